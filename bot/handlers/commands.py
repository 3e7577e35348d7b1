"""/start, /done (and the Done button), /undo, /cancel (and its question), /status and
/help."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, tzinfo

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import chat_settings_texts as ct
from bot import library_texts as lt
from bot import note_texts as nt
from bot import status_texts, texts
from bot.callbacks import CancelButton, DoneButton, cancel_keyboard
from bot.services.collecting import CollectingStatus
from bot.services.labels import first_texts
from bot.services.language import ENGLISH_ONLY, LanguageSupport
from bot.session_labels import session_label
from library.retention import RetentionSettings
from notes.service import NoteService
from notes.settings import NoteSettings
from sessions import (
    AudioEntry,
    Delivered,
    InvalidStateError,
    Session,
    SessionError,
    SessionManager,
    TranscriptionStatus,
)

_log = structlog.get_logger("bot.handlers.commands")

RECENT_SESSIONS = 5
# /start on a session whose notes are all transcribed waits this long at most for its
# transcript, so the chat reads the old transcript, then "New session started".
START_WAITS_FOR_TRANSCRIPT_SECONDS = 10.0


async def start(message: Message, manager: SessionManager) -> None:
    """A new session, in one answer. An open session with notes is finalized (the notifier
    delivers its transcript); when nothing of it was left to transcribe, the answer waits
    (a moment, bounded) for that transcript, so the chat reads them in order. An open
    session with no notes is kept: nothing to transcribe or deliver."""
    previous = await manager.get_active_session(message.chat.id)
    if previous is None or not previous.audio_entries:
        await manager.start_session(message.chat.id)
        await message.answer(texts.START)
        return
    delivered = asyncio.Event()

    async def on_delivered(event: Delivered) -> None:
        if event.session_id == previous.session_id:
            delivered.set()

    unsubscribe = manager.events.subscribe(on_delivered, Delivered)
    try:
        await manager.start_session(message.chat.id)
        if _all_transcribed(previous):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivered.wait(), START_WAITS_FOR_TRANSCRIPT_SECONDS)
    finally:
        unsubscribe()
    if delivered.is_set():
        await message.answer(texts.START)
    else:
        await message.answer(texts.start_after_previous(len(previous.audio_entries)))


def _all_transcribed(session: Session) -> bool:
    finished = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
    return all(e.transcription_status in finished for e in session.audio_entries)


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


async def undo(message: Message, manager: SessionManager, collecting: CollectingStatus) -> None:
    """Take back the open session's last note: its entry, audio and transcript go, the
    chat's ✍ on it too, and the answer names it (its length, its first words if any)."""
    session = await manager.get_active_session(message.chat.id)
    if session is None or not session.audio_entries:
        await message.answer(lt.NOTHING_TO_UNDO)
        return
    last = max(session.audio_entries, key=lambda e: e.sequence)
    said = await _transcript_of(manager, session, last)  # read before it is deleted
    try:
        session = await manager.remove_entry(session.session_id, last.sequence)
    except InvalidStateError:  # finished meanwhile (never in order, but say so rather than fail)
        await message.answer(lt.NOTHING_TO_UNDO)
        return
    _log.info("note_removed", session_id=session.session_id, sequence=last.sequence)
    await collecting.note_removed(message.chat.id, last.message_id)
    await message.answer(lt.undone(last.sequence, last.duration_seconds, said, session))


async def _transcript_of(
    manager: SessionManager, session: Session, entry: AudioEntry
) -> str | None:
    """The note's transcript, when live transcription has finished it (None otherwise)."""
    if entry.transcription_status is not TranscriptionStatus.COMPLETED:
        return None
    folder = manager.folder(session.session_id)
    return await asyncio.to_thread(
        folder.read_transcript_text, entry.sequence, entry.transcript_filename
    )


async def cancel(message: Message, manager: SessionManager) -> None:
    """Discard the open session: at once with at most one note, after a Yes with more."""
    session = await manager.get_active_session(message.chat.id)
    if session is None:
        await message.answer(lt.NOTHING_TO_CANCEL)
        return
    count = len(session.audio_entries)
    if count > 1:
        question = texts.cancel_question(count, session.total_duration_seconds)
        await message.answer(question, reply_markup=cancel_keyboard(session.session_id))
        return
    await message.answer(await _cancel(manager, session, lt.NOTHING_TO_CANCEL))


async def cancel_answered(
    query: CallbackQuery,
    callback_data: CancelButton,
    manager: SessionManager,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    """Yes or No to "Cancel this session?": the answer replaces the question (and its
    buttons). A Yes cancels the session asked about only while it is still the chat's
    open one: never a session opened since."""
    if query.message is None:
        callback_answer.text = lt.BUTTON_EXPIRED
        return
    chat_id = query.message.chat.id
    session = await manager.get_active_session(chat_id)
    if session is None or session.session_id != callback_data.session:
        reply = texts.CANCEL_TOO_LATE  # finished, cancelled or forgotten since the question
    elif not callback_data.confirm:
        reply = texts.CANCEL_KEPT
    else:
        reply = await _cancel(manager, session, texts.CANCEL_TOO_LATE)
    await bot.edit_message_text(reply, chat_id=chat_id, message_id=query.message.message_id)


async def _cancel(manager: SessionManager, session: Session, too_late: str) -> str:
    """Cancel ``session``; what to tell the chat (``too_late`` if it stopped collecting)."""
    try:
        await manager.cancel_session(session.session_id)
    except InvalidStateError:
        return too_late
    _log.info("session_cancelled", session_id=session.session_id)
    return lt.cancelled(session.session_id, len(session.audio_entries))


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
    text = status_texts.status(shown, [labelled(s) for s in recent], processor_label, zone)
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


async def help_(
    message: Message, language_support: LanguageSupport = ENGLISH_ONLY, diarization: bool = False
) -> None:
    await message.answer(
        texts.help_text(multilingual=language_support.multilingual, speakers=diarization)
    )


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
    router.callback_query.register(cancel_answered, CancelButton.filter())
    return router
