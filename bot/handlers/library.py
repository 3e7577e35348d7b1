"""The chat's session library: /history, /get, /find and /forget, and their buttons.

Each chat sees only its own sessions: a session of another chat is answered exactly like an
id that does not exist. A session is named by the local date and time it was recorded
(``/get 09:47``, ``/get 2 Dec 09:47``), by its id, or by a part of its id only one of the
chat's sessions has (see :func:`bot.services.lookup.resolve`); when several answer, the
chat gets them as buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import library_texts as lt
from bot.callbacks import (
    ForgetAskButton,
    ForgetButton,
    GetButton,
    HistoryPage,
    forget_ask_buttons,
    forget_keyboard,
    get_buttons,
    history_keyboard,
)
from bot.handlers.chat_settings import ask_forget_all
from bot.services.delivery import Courier
from bot.services.forgetting import Outcome, forget_session
from bot.services.labels import first_texts
from bot.services.lookup import Ambiguous, NotFound, chat_session, resolve
from bot.services.parts import resend_parts, was_cancelled
from bot.session_labels import button_labels, session_label
from bot.session_refs import described
from library.index import LibraryError, LibraryRebuildingError, SessionLibrary
from notes.service import NoteService
from sessions import Session, SessionManager, SessionState

_log = structlog.get_logger("bot.library")

HISTORY_PAGE = 5
FIND_LIMIT = 8

__all__ = ["chat_session", "create_router", "label_of"]


async def label_of(manager: SessionManager, session: Session, zone: tzinfo) -> str:
    """The session's human label (its start and first words), for a reply naming it."""
    first = await first_texts(manager, [session])
    return session_label(session, first[session.session_id], zone, datetime.now(UTC))


async def _buttons_for(
    manager: SessionManager, numbered: Sequence[tuple[int, Session]], zone: tzinfo
) -> list[tuple[str, str]]:
    """(button label, session id) for each (number, session): short, told apart."""
    first = await first_texts(manager, [s for _, s in numbered])
    entries = [(n, s, first[s.session_id]) for n, s in numbered]
    labels = button_labels(entries, zone, datetime.now(UTC))
    return [(label, s.session_id) for label, (_, s) in zip(labels, numbered, strict=True)]


async def _not_named(
    message: Message,
    manager: SessionManager,
    found: Ambiguous | NotFound,
    zone: tzinfo,
    *,
    forgetting: bool = False,
) -> None:
    """Tell the chat that no single session answers: which ones do, as buttons (to get
    it, or to be asked about forgetting it), or that none does."""
    if isinstance(found, NotFound):
        when = described(found.when) if found.when is not None else None
        await message.answer(lt.unknown_session(found.typed, when, zone))
        return
    shown = list(enumerate(found.sessions[: lt.AMBIGUOUS_SHOWN], start=1))
    labelled = await _buttons_for(manager, shown, zone)
    rows = forget_ask_buttons(labelled) if forgetting else get_buttons(labelled)
    await message.answer(
        lt.ambiguous_session(found.typed, len(found.sessions), zone),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


def _query_chat(query: CallbackQuery) -> int | None:
    return query.message.chat.id if query.message is not None else None


# -- /history ----------------------------------------------------------------------------------


async def history_page(
    manager: SessionManager, chat_id: int, offset: int, zone: tzinfo = UTC, *, group: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and keyboard of the /history page starting at ``offset``."""
    offset = max(offset, 0)
    found = await manager.list_sessions(HISTORY_PAGE + 1, chat_id=chat_id, offset=offset)
    page = found[:HISTORY_PAGE]
    first = await first_texts(manager, page)
    now = datetime.now(UTC)
    labelled = [(s, session_label(s, first[s.session_id], zone, now, count=False)) for s in page]
    text = lt.history(labelled, offset, zone, group=group)
    numbered = [(offset + n, s) for n, s in enumerate(page, start=1)]
    entries = [(n, s, first[s.session_id]) for n, s in numbered]
    labels = list(zip(button_labels(entries, zone, now), (s.session_id for s in page), strict=True))
    newer = max(offset - HISTORY_PAGE, 0) if offset > 0 else None
    older = offset + HISTORY_PAGE if len(found) > HISTORY_PAGE else None
    return text, history_keyboard(labels, newer=newer, older=older)


async def history(message: Message, manager: SessionManager, zone: tzinfo = UTC) -> None:
    group = message.chat.type != "private"
    text, keyboard = await history_page(manager, message.chat.id, 0, zone, group=group)
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
    group = query.message.chat.type != "private"
    text, keyboard = await history_page(manager, chat_id, callback_data.offset, zone, group=group)
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
        label = await label_of(manager, session, zone)
        await bot.send_message(chat_id, lt.not_ready(session, label))
        return
    if was_cancelled(session):
        label = await label_of(manager, session, zone)
        await bot.send_message(chat_id, lt.cancelled_session(label))
        return
    parts = await resend_parts(manager, session, zone, note_buttons=note_buttons)
    _log.info("session_resent", session_id=session.session_id, chat_id=chat_id, parts=len(parts))
    if not await courier.resend(session, parts):
        label = await label_of(manager, session, zone)
        await bot.send_message(chat_id, lt.resend_failed(session, label))


async def _named_session(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    zone: tzinfo,
    *,
    usage: str,
    forgetting: bool = False,
) -> Session | None:
    """The chat's session the command's argument names; None once the chat has been told
    how to name one (no argument), why there is none, or which ones it may mean."""
    if not command.args:
        await message.answer(usage)
        return None
    found = await resolve(manager, message.chat.id, command.args, zone, datetime.now(UTC))
    if isinstance(found, Ambiguous | NotFound):
        await _not_named(message, manager, found, zone, forgetting=forgetting)
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
    found = await _named_session(message, command, manager, zone, usage=lt.GET_USAGE)
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
    sessions: dict[str, Session] = {}
    for hit in hits:
        session = await chat_session(manager, message.chat.id, hit.session_id)
        if session is not None:  # else deleted since it was indexed, or (never) another chat's
            sessions[hit.session_id] = session
    kept = [hit for hit in hits if hit.session_id in sessions]
    first = await first_texts(manager, list(sessions.values()))
    now = datetime.now(UTC)
    found = [
        lt.FoundNote(
            hit.session_id,
            hit.sequence,
            session_label(sessions[hit.session_id], first[hit.session_id], zone, now),
            [(f.text, f.match) for f in hit.fragments],
        )
        for hit in kept
    ]
    entries = [(n, sessions[h.session_id], first[h.session_id]) for n, h in enumerate(kept, 1)]
    labels = list(zip(button_labels(entries, zone, now), (h.session_id for h in kept), strict=True))
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
    found = await _named_session(
        message, command, manager, zone, usage=lt.FORGET_USAGE, forgetting=True
    )
    if found is not None:
        await _ask_forget(message, manager, found, zone)


async def _ask_forget(
    message: Message, manager: SessionManager, session: Session, zone: tzinfo
) -> None:
    label = await label_of(manager, session, zone)
    keyboard = forget_keyboard(session.session_id)
    await message.answer(lt.forget_question(session, label, zone), reply_markup=keyboard)


async def forget_asked(
    query: CallbackQuery,
    callback_data: ForgetAskButton,
    manager: SessionManager,
    callback_answer: CallbackAnswer,
    zone: tzinfo = UTC,
) -> None:
    """A session chosen among several /forget could mean: ask about that one."""
    chat_id = _query_chat(query)
    session = (
        None if chat_id is None else await chat_session(manager, chat_id, callback_data.session)
    )
    if session is None or not isinstance(query.message, Message):
        callback_answer.text = lt.unknown_session(callback_data.session)
        callback_answer.show_alert = True
        return
    await _ask_forget(query.message, manager, session, zone)


async def forget_answered(
    query: CallbackQuery,
    callback_data: ForgetButton,
    manager: SessionManager,
    library: SessionLibrary,
    bot: Bot,
    callback_answer: CallbackAnswer,
    zone: tzinfo = UTC,
) -> None:
    chat_id = _query_chat(query)
    session_id = callback_data.session
    session = None if chat_id is None else await chat_session(manager, chat_id, session_id)
    if chat_id is None or query.message is None or session is None:  # a toast, no alarm
        callback_answer.text = lt.unknown_session(session_id)
        return
    label = await label_of(manager, session, zone)  # read before the session goes
    if not callback_data.confirm:
        reply = lt.kept(label)
    else:
        outcome = await forget_session(manager, library, session_id)
        if outcome is Outcome.BUSY:  # as it is now (it may have become busy since the tap)
            now = await chat_session(manager, chat_id, session_id) or session
            reply = lt.forget_busy(now, label)
        elif outcome is Outcome.FAILED:
            reply = lt.forget_failed(label)
        else:
            _log.info("session_forgotten", session_id=session_id, chat_id=chat_id)
            reply = lt.forgotten(label)
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
    router.callback_query.register(forget_asked, ForgetAskButton.filter())
    return router
