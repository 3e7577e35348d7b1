"""A chat's own settings: /lang (and its buttons), /vocab, and /forget all's answer.

The settings are the session manager's (kept in the library's database); the transcription
reads them for every note, on either backend, so a change applies to the notes not
transcribed yet.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import chat_settings_texts as ct
from bot import library_texts as lt
from bot.callbacks import (
    ForgetAllButton,
    LanguageButton,
    forget_all_keyboard,
    language_keyboard,
)
from bot.i18n import _
from bot.services.forgetting import EVERY_SESSION, Outcome, forget_session
from bot.services.language import ENGLISH_ONLY, LanguageSupport
from library.index import SessionLibrary
from sessions import SessionError, SessionManager
from sessions.chat_settings import AUTO_LANGUAGE, ChatSettings, VocabularyLimitError, clean_word
from transcription.languages import WHISPER_LANGUAGES

_log = structlog.get_logger("bot.chat_settings")

DEFAULT_CHOICE = "default"
# The buttons under /lang: the languages most asked for, then "detect" and "default".
COMMON_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "tr", "ja")
_SEPARATORS = re.compile(r"[,;\n]+")
FORGET_ALL_VALID_SECONDS = 600
"""A /forget all question answered later than this is asked again."""


def parse_language(typed: str) -> str | ValueError | None:
    """The setting ``typed`` asks for (a code, ``auto``, or None for the default); a
    ValueError (returned, not raised) when it names no language Whisper knows. English
    names count too (``/lang german``), and the names in the current language (``/lang
    deutsch``)."""
    word = typed.strip().lower()
    if word in (DEFAULT_CHOICE, "reset"):
        return None
    if word in (AUTO_LANGUAGE, "detect"):
        return AUTO_LANGUAGE
    if word in WHISPER_LANGUAGES:
        return word
    for code, name in WHISPER_LANGUAGES.items():
        if word in (name.lower(), ct.language_word(code).lower()):
            return code
    return ValueError(typed)


def parse_words(typed: str) -> list[str]:
    """The words and names of ``/vocab add``/``remove``: separated by commas, semicolons
    or lines; empty ones dropped."""
    return [w for w in (clean_word(part) for part in _SEPARATORS.split(typed)) if w]


async def settings_or_say(message: Message, manager: SessionManager) -> ChatSettings | None:
    """The chat's settings; None (logged, and the chat told) when they cannot be read."""
    try:
        return await manager.get_chat_settings(message.chat.id)
    except SessionError:
        _log.exception("chat_settings_unreadable", chat_id=message.chat.id)
        await message.answer(ct.SETTINGS_UNAVAILABLE)
        return None


# -- /lang -------------------------------------------------------------------------------------


def _language_choices() -> list[tuple[str, str]]:
    names = ((ct.language_word(code), code) for code in COMMON_LANGUAGES)
    choices = [(name[:1].upper() + name[1:], code) for name, code in names]
    return [*choices, (_("Recognise each note"), AUTO_LANGUAGE), (_("Bot default"), DEFAULT_CHOICE)]


async def lang(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    language_support: LanguageSupport = ENGLISH_ONLY,
) -> None:
    settings = await settings_or_say(message, manager)
    if settings is None:
        return
    typed = (command.args or "").strip()
    if not language_support.multilingual and typed.lower() not in (DEFAULT_CHOICE, "reset"):
        # Nothing stored: a language the model cannot honour would only pretend.
        await message.answer(ct.lang_english_only(settings))
        return
    if typed.lower() == "list":
        await message.answer(ct.lang_list())
        return
    if not typed:
        keyboard = language_keyboard(_language_choices())
        text = ct.lang_status(settings, language_support.default_language)
        await message.answer(text, reply_markup=keyboard)
        return
    choice = parse_language(typed)
    if isinstance(choice, ValueError):
        await message.answer(ct.lang_unknown(typed))
        return
    if await _set_language(manager, message.chat.id, choice):
        await message.answer(ct.lang_set(choice, language_support.default_language))
    else:
        await message.answer(ct.SETTINGS_UNAVAILABLE)


async def _set_language(manager: SessionManager, chat_id: int, language: str | None) -> bool:
    """Store the chat's language; False when the settings cannot be written (logged)."""
    try:
        await manager.update_chat_settings(chat_id, lambda s: s.with_language(language))
    except SessionError:  # LibraryError: the library's database failed
        _log.exception("chat_settings_unwritable", chat_id=chat_id)
        return False
    _log.info("chat_language_set", chat_id=chat_id, language=language or DEFAULT_CHOICE)
    return True


async def lang_chosen(
    query: CallbackQuery,
    callback_data: LanguageButton,
    manager: SessionManager,
    bot: Bot,
    callback_answer: CallbackAnswer,
    language_support: LanguageSupport = ENGLISH_ONLY,
) -> None:
    if query.message is None:
        callback_answer.text = lt.BUTTON_EXPIRED
        return
    chat_id = query.message.chat.id
    choice = parse_language(callback_data.code)
    if isinstance(choice, ValueError) or not language_support.multilingual:
        callback_answer.text = lt.BUTTON_EXPIRED  # an old button, or the model changed
        return
    if not await _set_language(manager, chat_id, choice):
        callback_answer.text = ct.SETTINGS_UNAVAILABLE  # the menu stays: a later tap may work
        callback_answer.show_alert = True
        return
    text = ct.lang_set(choice, language_support.default_language)
    await bot.edit_message_text(text, chat_id=chat_id, message_id=query.message.message_id)


# -- /vocab ------------------------------------------------------------------------------------


async def vocab(message: Message, command: CommandObject, manager: SessionManager) -> None:
    action, _, rest = (command.args or "").strip().partition(" ")
    action = action.lower()
    chat_id = message.chat.id
    if not action:
        settings = await settings_or_say(message, manager)
        if settings is not None:
            await message.answer(ct.vocabulary(settings))
        return
    if action not in ("add", "remove", "delete", "clear"):
        await message.answer(ct.VOCAB_USAGE)
        return
    words = parse_words(rest)
    if action != "clear" and not words:
        await message.answer(ct.VOCAB_NOTHING_GIVEN)
        return
    try:
        if action == "add":
            reply = await _add_words(manager, chat_id, words)
        elif action == "clear":
            before = await manager.get_chat_settings(chat_id)
            await manager.update_chat_settings(chat_id, lambda s: s.without_words(s.vocabulary)[0])
            reply = ct.vocab_cleared(before.vocabulary)
        else:
            reply = await _remove_words(manager, chat_id, words)
    except SessionError:
        _log.exception("chat_settings_unwritable", chat_id=chat_id)
        reply = ct.SETTINGS_UNAVAILABLE
    await message.answer(reply)


async def _add_words(manager: SessionManager, chat_id: int, words: list[str]) -> str:
    before = await manager.get_chat_settings(chat_id)
    try:
        after = await manager.update_chat_settings(chat_id, lambda s: s.with_words(words))
    except VocabularyLimitError as exc:
        return ct.vocab_refused(exc)
    known = {w.casefold() for w in before.vocabulary}
    added = [w for w in after.vocabulary if w.casefold() not in known]
    already = [w for w in words if w.casefold() in known]
    _log.info("chat_vocabulary_added", chat_id=chat_id, added=len(added))
    return ct.vocab_added(added, already, after)


async def _remove_words(manager: SessionManager, chat_id: int, words: list[str]) -> str:
    missing: list[str] = []

    def remove(settings: ChatSettings) -> ChatSettings:
        changed, not_there = settings.without_words(words)
        missing[:] = not_there
        return changed

    before = await manager.get_chat_settings(chat_id)
    after = await manager.update_chat_settings(chat_id, remove)
    removed = [w for w in before.vocabulary if w not in after.vocabulary]
    _log.info("chat_vocabulary_removed", chat_id=chat_id, removed=len(removed))
    return ct.vocab_removed(removed, missing, after)


# -- /forget all -------------------------------------------------------------------------------


async def ask_forget_all(message: Message, manager: SessionManager) -> None:
    """The question of /forget all, with Yes / No (or that there is nothing to forget)."""
    settings = await settings_or_say(message, manager)
    if settings is None:
        return
    sessions = await manager.list_sessions(EVERY_SESSION, chat_id=message.chat.id)
    text = ct.forget_all_question(len(sessions), settings)
    if not sessions and settings.is_default:
        await message.answer(text)
        return
    await message.answer(text, reply_markup=forget_all_keyboard(time.time()))


async def forget_all_answered(
    query: CallbackQuery,
    callback_data: ForgetAllButton,
    manager: SessionManager,
    library: SessionLibrary,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    if query.message is None:
        callback_answer.text = lt.BUTTON_EXPIRED
        return
    chat_id = query.message.chat.id
    if not callback_data.confirm:
        reply = ct.KEPT_ALL
    elif not 0 <= time.time() - callback_data.asked <= FORGET_ALL_VALID_SECONDS:
        reply = ct.FORGET_ALL_EXPIRED
    else:
        reply = await _forget_all(manager, library, chat_id, callback_data.asked)
    await bot.edit_message_text(reply, chat_id=chat_id, message_id=query.message.message_id)


async def _forget_all(
    manager: SessionManager, library: SessionLibrary, chat_id: int, asked: float
) -> str:
    """Forget the chat's settings, then each of its sessions begun before ``asked`` (when
    the question was asked) that is not being worked on; the reply says what was kept and
    why. Settings that cannot be removed leave everything as it was."""
    try:
        settings_removed = await manager.delete_chat_settings(chat_id)
    except SessionError:  # LibraryError: the library's database failed
        _log.exception("chat_settings_unwritable", chat_id=chat_id)
        return ct.FORGET_ALL_UNAVAILABLE
    outcomes: Counter[Outcome] = Counter()
    newer = 0
    for session in await manager.list_sessions(EVERY_SESSION, chat_id=chat_id):
        if session.created_at.timestamp() > asked:  # recorded since: not what was asked
            newer += 1
            continue
        outcomes[await forget_session(manager, library, session.session_id)] += 1
    deleted, busy, failed = (outcomes[o] for o in (Outcome.DELETED, Outcome.BUSY, Outcome.FAILED))
    _log.info(
        "chat_forgotten",
        chat_id=chat_id,
        sessions=deleted,
        kept_busy=busy,
        kept_newer=newer,
        kept_failed=failed,
    )
    return ct.forgot_all(deleted, busy, settings_removed, newer=newer, failed=failed)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="chat_settings")
    router.message.register(lang, Command("lang"))
    router.message.register(vocab, Command("vocab"))
    router.callback_query.register(lang_chosen, LanguageButton.filter())
    router.callback_query.register(forget_all_answered, ForgetAllButton.filter())
    return router
