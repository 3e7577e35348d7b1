"""The chat's session library: /history, /get, /find and /forget, and their buttons.

Each chat sees only its own sessions: a session of another chat is answered exactly like an
id that does not exist. A session is named by its id or by any part of it that only one of
the chat's sessions has (``/get 19-47``; spaces and colons count as ``_`` and ``-``, so
``/get 2026-11-24 19:47`` works too).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import library_texts as lt
from bot.callbacks import (
    ForgetButton,
    GetButton,
    HistoryPage,
    forget_keyboard,
    get_buttons,
    history_keyboard,
)
from bot.handlers.chat_settings import ask_forget_all
from bot.services.delivery import Courier
from bot.services.forgetting import EVERY_SESSION, Outcome, forget_session
from bot.services.parts import resend_parts, was_cancelled
from notes.service import NoteService
from sessions import (
    CorruptSessionError,
    Session,
    SessionManager,
    SessionState,
)
from sessions.ids import is_valid_session_id
from sessions.library import LibraryError, LibraryRebuildingError, SessionLibrary

_log = structlog.get_logger("bot.library")

HISTORY_PAGE = 5
FIND_LIMIT = 8
_SHORT_FORM = str.maketrans({" ": "_", ":": "-"})


# -- finding the chat's sessions -------------------------------------------------------------


async def chat_session(manager: SessionManager, chat_id: int, session_id: str) -> Session | None:
    """The session ``session_id`` if it exists and is ``chat_id``'s; None otherwise (an
    unknown id and another chat's session look the same)."""
    if not is_valid_session_id(session_id):
        return None
    try:
        session = await manager.get_session(session_id)
    except CorruptSessionError:  # unreadable: nothing can be done with it from the chat
        return None
    return session if session is not None and session.chat_id == chat_id else None


async def resolve(manager: SessionManager, chat_id: int, typed: str) -> Session | str:
    """The chat's session named by ``typed`` (its id, or a part of it only one of the chat's
    sessions has), or the reply saying why there is none."""
    key = typed.strip().translate(_SHORT_FORM)
    exact = await chat_session(manager, chat_id, key)
    if exact is not None:
        return exact
    sessions = await manager.list_sessions(EVERY_SESSION, chat_id=chat_id) if key else []
    matches = [s for s in sessions if key in s.session_id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return lt.unknown_session(typed)
    return lt.ambiguous_session(typed, [s.session_id for s in matches])


def _query_chat(query: CallbackQuery) -> int | None:
    return query.message.chat.id if query.message is not None else None


# -- /history ----------------------------------------------------------------------------------


async def history_page(
    manager: SessionManager, chat_id: int, offset: int, zone: tzinfo = UTC
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and keyboard of the /history page starting at ``offset``."""
    offset = max(offset, 0)
    found = await manager.list_sessions(HISTORY_PAGE + 1, chat_id=chat_id, offset=offset)
    page = found[:HISTORY_PAGE]
    transcripts = await asyncio.gather(
        *(asyncio.to_thread(manager.folder(s.session_id).read_process_input) for s in page)
    )
    text = lt.history(list(zip(page, transcripts, strict=True)), offset, zone)
    labels = [
        (lt.history_button(offset + n, s, zone), s.session_id) for n, s in enumerate(page, start=1)
    ]
    newer = max(offset - HISTORY_PAGE, 0) if offset > 0 else None
    older = offset + HISTORY_PAGE if len(found) > HISTORY_PAGE else None
    return text, history_keyboard(labels, newer=newer, older=older)


async def history(message: Message, manager: SessionManager, zone: tzinfo = UTC) -> None:
    text, keyboard = await history_page(manager, message.chat.id, 0, zone)
    await message.answer(text, reply_markup=keyboard)


async def history_turned(
    query: CallbackQuery,
    callback_data: HistoryPage,
    manager: SessionManager,
    bot: Bot,
    callback_answer: CallbackAnswer,
    zone: tzinfo = UTC,
) -> None:
    chat_id = _query_chat(query)
    if chat_id is None or query.message is None:
        callback_answer.text = lt.BUTTON_EXPIRED
        return
    text, keyboard = await history_page(manager, chat_id, callback_data.offset, zone)
    try:
        await bot.edit_message_text(
            text, chat_id=chat_id, message_id=query.message.message_id, reply_markup=keyboard
        )
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:  # the same page tapped twice: it shows already
            raise


# -- /get --------------------------------------------------------------------------------------


async def send_again(
    session: Session,
    manager: SessionManager,
    courier: Courier,
    bot: Bot,
    chat_id: int,
    zone: tzinfo = UTC,
    *,
    note_buttons: bool = False,
) -> None:
    """Send ``session``'s transcript and files to its chat again, or say why not (with the
    note buttons under the transcript when ``note_buttons``)."""
    if session.state in (SessionState.COLLECTING, SessionState.TRANSCRIBING):
        await bot.send_message(chat_id, lt.not_ready(session))
        return
    if was_cancelled(session):
        await bot.send_message(chat_id, lt.cancelled_session(session))
        return
    parts = await resend_parts(manager, session, zone, note_buttons=note_buttons)
    _log.info("session_resent", session_id=session.session_id, chat_id=chat_id, parts=len(parts))
    if not await courier.resend(session, parts):
        await bot.send_message(chat_id, lt.resend_failed(session))


async def _named_session(
    message: Message, command: CommandObject, manager: SessionManager, *, usage: str
) -> Session | None:
    """The chat's session the command's argument names; None once the chat has been told
    how to name one (no argument) or why there is none."""
    if not command.args:
        await message.answer(usage)
        return None
    found = await resolve(manager, message.chat.id, command.args)
    if isinstance(found, str):
        await message.answer(found)
        return None
    return found


async def get(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    courier: Courier,
    bot: Bot,
    zone: tzinfo = UTC,
    notes: NoteService | None = None,
) -> None:
    found = await _named_session(message, command, manager, usage=lt.GET_USAGE)
    if found is not None:
        buttons = notes is not None
        await send_again(found, manager, courier, bot, message.chat.id, zone, note_buttons=buttons)


async def get_pressed(
    query: CallbackQuery,
    callback_data: GetButton,
    manager: SessionManager,
    courier: Courier,
    bot: Bot,
    callback_answer: CallbackAnswer,
    zone: tzinfo = UTC,
    notes: NoteService | None = None,
) -> None:
    chat_id = _query_chat(query)
    session = (
        None if chat_id is None else await chat_session(manager, chat_id, callback_data.session)
    )
    if chat_id is None or session is None:  # forgotten since (or never this chat's): a toast
        callback_answer.text = lt.unknown_session(callback_data.session)
        return
    await send_again(session, manager, courier, bot, chat_id, zone, note_buttons=notes is not None)


# -- /find -------------------------------------------------------------------------------------


async def find(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    library: SessionLibrary,
    zone: tzinfo = UTC,
) -> None:
    words = (command.args or "").strip()
    if not words:
        await message.answer(lt.FIND_USAGE)
        return
    try:
        hits = await library.search(message.chat.id, words, limit=FIND_LIMIT)
    except LibraryRebuildingError:  # found damaged (or missing): back once it is rebuilt
        await message.answer(lt.SEARCH_REBUILDING)
        return
    except LibraryError:  # locked, I/O, a full disk: the library logged it and retries
        _log.exception("library_search_failed", chat_id=message.chat.id)
        await message.answer(lt.SEARCH_UNAVAILABLE)
        return
    found: list[lt.FoundNote] = []
    for hit in hits:
        session = await chat_session(manager, message.chat.id, hit.session_id)
        if session is None:  # deleted since it was indexed, or (never) another chat's
            continue
        fragments = [(f.text, f.match) for f in hit.fragments]
        found.append(lt.FoundNote(hit.session_id, hit.sequence, session.created_at, fragments))
    labels = [(lt.find_button(n, hit), hit.session_id) for n, hit in enumerate(found, start=1)]
    keyboard = InlineKeyboardMarkup(inline_keyboard=get_buttons(labels)) if labels else None
    await message.answer(
        lt.find_results(words, found, zone), parse_mode="HTML", reply_markup=keyboard
    )


# -- /forget -----------------------------------------------------------------------------------


async def forget(
    message: Message, command: CommandObject, manager: SessionManager, zone: tzinfo = UTC
) -> None:
    if (command.args or "").strip().lower() == "all":  # every session and the settings
        await ask_forget_all(message, manager)
        return
    found = await _named_session(message, command, manager, usage=lt.FORGET_USAGE)
    if found is not None:
        keyboard = forget_keyboard(found.session_id)
        await message.answer(lt.forget_question(found, zone), reply_markup=keyboard)


async def forget_answered(
    query: CallbackQuery,
    callback_data: ForgetButton,
    manager: SessionManager,
    library: SessionLibrary,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    chat_id = _query_chat(query)
    session_id = callback_data.session
    session = None if chat_id is None else await chat_session(manager, chat_id, session_id)
    if chat_id is None or query.message is None or session is None:  # a toast, no alarm
        callback_answer.text = lt.unknown_session(session_id)
        return
    if not callback_data.confirm:
        reply = lt.kept(session_id)
    else:
        outcome = await forget_session(manager, library, session_id)
        if outcome is Outcome.BUSY:  # as it is now (it may have become busy since the tap)
            reply = lt.forget_busy(await chat_session(manager, chat_id, session_id) or session)
        elif outcome is Outcome.FAILED:
            reply = lt.forget_failed(session_id)
        else:
            _log.info("session_forgotten", session_id=session_id, chat_id=chat_id)
            reply = lt.forgotten(session_id)
    await bot.edit_message_text(reply, chat_id=chat_id, message_id=query.message.message_id)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="library")
    router.message.register(history, Command("history"))
    router.message.register(get, Command("get"))
    router.message.register(find, Command("find"))
    router.message.register(forget, Command("forget"))
    router.callback_query.register(history_turned, HistoryPage.filter())
    router.callback_query.register(get_pressed, GetButton.filter())
    router.callback_query.register(forget_answered, ForgetButton.filter())
    return router
