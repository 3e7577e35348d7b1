"""Written notes: /style (and its buttons), the Summary / Clean text / To-dos buttons under
transcripts, "Try again" under a note that failed, and a reply to a transcript or a note
with an instruction. Without a language model set up (no ``notes`` service), /style says
so and replies go on to the other handlers.
"""

from __future__ import annotations

import structlog
from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import chat_settings_texts as ct
from bot import library_texts as lt
from bot import note_texts as nt
from bot.callbacks import NoteButton, NoteRetryButton, StyleButton, style_keyboard
from bot.handlers.chat_settings import settings_or_say
from bot.handlers.library import chat_session
from bot.i18n import _
from bot.services.message_index import MessageIndex
from bot.services.notes import NoteDelivery, ask_for_note, title_of
from notes.service import NoteService, NoTranscriptError
from notes.settings import NoteSettings
from notes.styles import Style, parse_style
from sessions import Session, SessionError, SessionManager
from sessions.chat_settings import clean_word
from sessions.errors import SessionNotFoundError

_log = structlog.get_logger("bot.notes")

DEFAULT_CHOICE = "default"
OFF = "off"
INSTRUCTION_LIMIT = 1000  # characters of a reply's instruction given to the model
_BUTTONS = [s.value for s in Style if s is not Style.CUSTOM]


def _default_style(note_settings: NoteSettings | None) -> str:
    return note_settings.llm_default_style if note_settings is not None else OFF


async def _set_style(
    manager: SessionManager, chat_id: int, style: str | None, instruction: str | None = None
) -> bool:
    """Store the chat's style; False when the settings cannot be written (logged)."""
    try:
        await manager.update_chat_settings(
            chat_id, lambda s: s.with_style(style, instruction=instruction)
        )
    except SessionError:
        _log.exception("chat_settings_unwritable", chat_id=chat_id)
        return False
    _log.info("chat_style_set", chat_id=chat_id, style=style or DEFAULT_CHOICE)
    return True


def _chosen(typed: str) -> tuple[str | None, str | None] | str:
    """(style to store, custom instruction) for ``/style <typed>``, or the reply saying why
    not. None is the bot's default."""
    word, _, rest = typed.strip().partition(" ")
    word = word.lower()
    if word in (DEFAULT_CHOICE, "reset"):
        return None, None
    try:
        style = parse_style(word)
    except ValueError:
        return nt.style_unknown(word)
    if style is None:
        return OFF, None
    if style is Style.CUSTOM:
        instruction = clean_word(rest)
        return (Style.CUSTOM.value, instruction) if instruction else nt.CUSTOM_NEEDS_INSTRUCTION
    return style.value, None


async def style(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    notes: NoteService | None = None,
    note_settings: NoteSettings | None = None,
) -> None:
    if notes is None:
        await message.answer(nt.NOT_SET_UP)
        return
    default = _default_style(note_settings)
    typed = (command.args or "").strip()
    if not typed:
        settings = await settings_or_say(message, manager)
        if settings is None:
            return
        text = nt.style_status(settings.style, settings.style_instruction, default)
        choices = [
            *((nt.style_label(style), style) for style in _BUTTONS),
            (_("Off"), OFF),
            (_("Bot default"), DEFAULT_CHOICE),
        ]
        await message.answer(text, reply_markup=style_keyboard(choices))
        return
    chosen = _chosen(typed)
    if isinstance(chosen, str):
        await message.answer(chosen)
        return
    value, instruction = chosen
    if await _set_style(manager, message.chat.id, value, instruction):
        await message.answer(nt.style_set(value, instruction, default))
    else:
        await message.answer(ct.SETTINGS_UNAVAILABLE)


async def style_chosen(
    query: CallbackQuery,
    callback_data: StyleButton,
    manager: SessionManager,
    bot: Bot,
    callback_answer: CallbackAnswer,
    notes: NoteService | None = None,
    note_settings: NoteSettings | None = None,
) -> None:
    chosen = _chosen(callback_data.style)
    if query.message is None or notes is None or isinstance(chosen, str):
        callback_answer.text = lt.BUTTON_EXPIRED if notes is not None else nt.NOT_SET_UP
        return
    value, instruction = chosen
    chat_id = query.message.chat.id
    if not await _set_style(manager, chat_id, value, instruction):
        callback_answer.text = ct.SETTINGS_UNAVAILABLE
        callback_answer.show_alert = True
        return
    text = nt.style_set(value, instruction, _default_style(note_settings))
    await bot.edit_message_text(text, chat_id=chat_id, message_id=query.message.message_id)


async def _tapped_session(
    query: CallbackQuery, manager: SessionManager, session_id: str, answer: CallbackAnswer
) -> Session | None:
    """The chat's transcribed session a note button names; None once the tap is answered
    with why not."""
    chat_id = query.message.chat.id if query.message is not None else None
    session = None if chat_id is None else await chat_session(manager, chat_id, session_id)
    if session is None:
        answer.text = nt.SESSION_GONE
        answer.show_alert = True
    elif session.transcribed_at is None:
        answer.text = nt.NOT_TRANSCRIBED
        answer.show_alert = True
        return None
    return session


async def _custom_instruction(manager: SessionManager, chat_id: int) -> str | None:
    try:
        return (await manager.get_chat_settings(chat_id)).style_instruction
    except SessionError:
        return None


async def _request(
    session: Session,
    style: Style,
    manager: SessionManager,
    notes: NoteService,
    note_delivery: NoteDelivery,
    answer: CallbackAnswer,
) -> None:
    instruction = None
    if style is Style.CUSTOM:
        instruction = await _custom_instruction(manager, session.chat_id)
        if not instruction:
            answer.text = nt.CUSTOM_NEEDS_INSTRUCTION
            answer.show_alert = True
            return
    title = title_of(style.value)
    try:
        stored = await ask_for_note(notes, note_delivery, session, style, instruction)
    except (SessionNotFoundError, NoTranscriptError) as exc:  # forgotten since the check
        answer.text = (
            nt.SESSION_GONE if isinstance(exc, SessionNotFoundError) else nt.NOT_TRANSCRIBED
        )
        answer.show_alert = True
        return
    answer.text = nt.sent_again(title) if stored else nt.writing(title)


async def note_pressed(
    query: CallbackQuery,
    callback_data: NoteButton,
    manager: SessionManager,
    callback_answer: CallbackAnswer,
    notes: NoteService | None = None,
    note_delivery: NoteDelivery | None = None,
) -> None:
    if notes is None or note_delivery is None:  # a button from when a model was set up
        callback_answer.text = nt.NOT_SET_UP
        callback_answer.show_alert = True
        return
    try:
        style = Style(callback_data.style)
    except ValueError:
        callback_answer.text = lt.BUTTON_EXPIRED
        return
    session = await _tapped_session(query, manager, callback_data.session, callback_answer)
    if session is not None:
        await _request(session, style, manager, notes, note_delivery, callback_answer)


async def retry_pressed(
    query: CallbackQuery,
    callback_data: NoteRetryButton,
    manager: SessionManager,
    callback_answer: CallbackAnswer,
    notes: NoteService | None = None,
    note_delivery: NoteDelivery | None = None,
) -> None:
    if notes is None or note_delivery is None:
        callback_answer.text = nt.NOT_SET_UP
        callback_answer.show_alert = True
        return
    try:
        style = Style(callback_data.key)
    except ValueError:  # an answer to a reply: its instruction is the chat's to send again
        callback_answer.text = nt.REPLY_AGAIN
        callback_answer.show_alert = True
        return
    session = await _tapped_session(query, manager, callback_data.session, callback_answer)
    if session is not None:
        await _request(session, style, manager, notes, note_delivery, callback_answer)


async def reply_instruction(
    message: Message,
    manager: SessionManager,
    notes: NoteService | None = None,
    messages: MessageIndex | None = None,
) -> None:
    """A reply to one of the bot's transcripts or notes: the text is an instruction for
    that session's note. A reply to anything else goes on to the other handlers."""
    replied = message.reply_to_message
    if notes is None or messages is None or replied is None:
        raise SkipHandler
    session_id = await messages.session_of(message.chat.id, replied.message_id)
    if session_id is None:
        raise SkipHandler
    session = await chat_session(manager, message.chat.id, session_id)
    if session is None:
        await message.reply(nt.SESSION_GONE)
        return
    if session.transcribed_at is None:
        await message.reply(nt.NOT_TRANSCRIBED)
        return
    instruction = clean_word(message.text or "")[:INSTRUCTION_LIMIT]
    try:
        await notes.request_reply(session_id, instruction, reply_to=message.message_id)
    except SessionNotFoundError:
        await message.reply(nt.SESSION_GONE)
        return
    except NoTranscriptError:
        await message.reply(nt.NOT_TRANSCRIBED)
        return
    _log.info("note_reply_queued", session_id=session_id, chat_id=message.chat.id)
    await message.reply(nt.REPLY_QUEUED)


def _instruction(message: Message) -> bool:
    text = message.text or ""
    return message.reply_to_message is not None and bool(text.strip()) and not text.startswith("/")


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="notes")
    router.message.register(style, Command("style"))
    router.message.register(reply_instruction, F.func(_instruction))
    router.callback_query.register(style_chosen, StyleButton.filter())
    router.callback_query.register(note_pressed, NoteButton.filter())
    router.callback_query.register(retry_pressed, NoteRetryButton.filter())
    return router
