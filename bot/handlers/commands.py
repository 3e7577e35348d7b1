"""/start, /done (and the Done button), /undo, /cancel, /status and /help."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, tzinfo

import structlog
from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import chat_settings_texts as ct
from bot import library_texts as lt
from bot import note_texts as nt
from bot import texts
from bot.callbacks import DoneButton
from bot.services.labels import first_texts
from bot.services.language import ENGLISH_ONLY, LanguageSupport
from bot.session_labels import session_label
from notes.service import NoteService
from notes.settings import NoteSettings
from sessions import InvalidStateError, Session, SessionError, SessionManager
from sessions.retention import RetentionSettings

_log = structlog.get_logger("bot.handlers.commands")

RECENT_SESSIONS = 5


async def start(message: Message, manager: SessionManager) -> None:
    # Finalizes the chat's open session, whose transcript the notifier then delivers; an
    # open session with no notes is kept instead (nothing to transcribe or deliver). The
    # chat hears of that first, so the progress message that follows is no surprise.
    previous = await manager.get_active_session(message.chat.id)
    if previous is not None and previous.audio_entries:
        await message.answer(texts.previous_session_finishing(len(previous.audio_entries)))
    await manager.start_session(message.chat.id)
    await message.answer(texts.START)


async def done(message: Message, manager: SessionManager) -> None:
    session = await manager.get_active_session(message.chat.id)
    if session is None or not session.audio_entries:
        await message.answer(texts.NOTHING_TO_FINISH)
        return
    # The notifier answers with the status message as soon as the session is finalized.
    await manager.finalize_session(session.session_id)


async def done_pressed(
    query: CallbackQuery,
    callback_data: DoneButton,
    manager: SessionManager,
    callback_answer: CallbackAnswer,
) -> None:
    """The Done button under a note: /done, for the session that note went into. A button
    of a session already finished (or of another chat) does nothing but say so."""
    chat_id = query.message.chat.id if query.message is not None else None
    session = None if chat_id is None else await manager.get_active_session(chat_id)
    if session is None or session.session_id != callback_data.session:
        callback_answer.text = lt.DONE_ALREADY
        return
    if not session.audio_entries:  # every note taken back with /undo
        callback_answer.text = texts.NOTHING_TO_FINISH
        return
    await manager.finalize_session(session.session_id)


async def undo(message: Message, manager: SessionManager) -> None:
    session = await manager.get_active_session(message.chat.id)
    if session is None or not session.audio_entries:
        await message.answer(lt.NOTHING_TO_UNDO)
        return
    last = max(e.sequence for e in session.audio_entries)
    try:
        session = await manager.remove_entry(session.session_id, last)
    except InvalidStateError:  # finished meanwhile (never in order, but say so rather than fail)
        await message.answer(lt.NOTHING_TO_UNDO)
        return
    _log.info("note_removed", session_id=session.session_id, sequence=last)
    await message.answer(lt.undone(last, session))


async def cancel(message: Message, manager: SessionManager) -> None:
    session = await manager.get_active_session(message.chat.id)
    if session is None:
        await message.answer(lt.NOTHING_TO_CANCEL)
        return
    try:
        await manager.cancel_session(session.session_id)
    except InvalidStateError:
        await message.answer(lt.NOTHING_TO_CANCEL)
        return
    _log.info("session_cancelled", session_id=session.session_id)
    await message.answer(lt.cancelled(session.session_id, len(session.audio_entries)))


async def status(
    message: Message,
    manager: SessionManager,
    processor_label: str | None = None,
    retention: RetentionSettings | None = None,
    language_support: LanguageSupport = ENGLISH_ONLY,
    note_settings: NoteSettings | None = None,
    notes: NoteService | None = None,
    zone: tzinfo = UTC,
) -> None:
    active = await manager.get_active_session(message.chat.id)
    recent = await manager.list_sessions(limit=RECENT_SESSIONS + 1, chat_id=message.chat.id)
    recent = [s for s in recent if active is None or s.session_id != active.session_id]
    recent = recent[:RECENT_SESSIONS]
    first = await first_texts(manager, [*recent, *([active] if active else [])])
    now = datetime.now(UTC)

    def labelled(session: Session) -> tuple[Session, str]:
        return session, session_label(session, first[session.session_id], zone, now, count=False)

    shown = labelled(active) if active is not None else None
    text = texts.status(shown, [labelled(s) for s in recent], processor_label, zone)
    if retention is not None:
        kept = lt.retention(retention.audio_retention_days, retention.session_retention_days)
        text = texts.fit(f"{text}\n{kept}")
    with contextlib.suppress(SessionError):  # the rest of /status is worth sending anyway
        settings = await manager.get_chat_settings(message.chat.id)
        mine = ct.status_lines(
            settings, language_support.default_language, language_support.multilingual
        )
        if notes is not None and note_settings is not None:  # a language model is set up
            mine += "\n" + nt.status_line(settings.style, note_settings.llm_default_style)
        text = texts.fit(f"{text}\n\n{mine}")
    await message.answer(text)


async def help_(message: Message) -> None:
    await message.answer(texts.HELP)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="commands")
    router.message.register(start, CommandStart())
    router.message.register(done, Command("done"))
    router.message.register(undo, Command("undo"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(status, Command("status"))
    router.message.register(help_, Command("help"))
    router.callback_query.register(done_pressed, DoneButton.filter())
    return router
