"""Tells the chat how its session is going, and delivers the transcript.

Listens on the session event bus: a finalized session gets one status message, edited
with progress at most every ``edit_interval`` seconds; a TRANSCRIBED (or ERROR) session
gets its transcript, split into messages of at most 4096 characters, plus a ``.txt``
document when it does not fit in one message. Delivery is recorded in the metadata
(``delivered_at``), and sessions left undelivered are delivered at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile, FSInputFile

from bot import texts
from sessions import FileSessionManager, Session, SessionEvent, SessionState
from sessions import events as ev
from sessions.layout import PROCESS_INPUT, PROCESS_OUTPUT_DIR

_log = structlog.get_logger("bot.notifier")

UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # sendDocument on Telegram's cloud Bot API
_NOT_SENT = {"processor.log"}  # the processor's own log stays on the server


def _processing_ended(session: Session) -> bool:
    if session.state is SessionState.PROCESSED:
        return True
    return session.state is SessionState.ERROR and any(
        e.code == "processor_failed" for e in session.errors
    )


def _output_files(folder: Path) -> list[tuple[Path, int]]:
    """Regular files the processor wrote, by name, with their sizes (blocking)."""
    if not folder.is_dir():
        return []
    return [
        (p, p.stat().st_size)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name not in _NOT_SENT
    ]


@dataclass
class _Status:
    chat_id: int
    entry_count: int
    total_seconds: float
    message_id: int | None = None
    text: str = ""
    last_edit: float = 0.0
    pending: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Notifier:
    """Progress messages and transcript delivery, driven by session events."""

    def __init__(
        self, bot: Bot, manager: FileSessionManager, *, edit_interval: float = 2.0
    ) -> None:
        self._bot = bot
        self._manager = manager
        self._edit_interval = edit_interval
        self._status: dict[str, _Status] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._delivering: dict[str, asyncio.Lock] = {}
        self._unsubscribe: list[Callable[[], None]] = []

    def attach(self) -> None:
        bus = self._manager.events
        self._unsubscribe = [
            bus.subscribe(self._on_finalized, ev.FINALIZED),
            bus.subscribe(self._on_entry_status, ev.ENTRY_STATUS),
            bus.subscribe(self._on_state_changed, ev.STATE_CHANGED),
        ]

    async def resume(self) -> None:
        """Deliver whatever finished while the bot was down: transcripts, then outputs."""
        finished = await self._manager.sessions_in_states(
            SessionState.TRANSCRIBED,
            SessionState.PROCESSING,
            SessionState.PROCESSED,
            SessionState.ERROR,
        )
        for session in finished:
            if session.delivered_at is None:
                self._spawn(self.deliver(session.session_id))
            elif session.outputs_delivered_at is None and _processing_ended(session):
                self._spawn(self.deliver_outputs(session.session_id))

    async def stop(self, grace_seconds: float = 3.0) -> None:
        """Let deliveries under way finish for a moment, then cancel the rest."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # -- events ------------------------------------------------------------------------------

    async def _on_finalized(self, event: SessionEvent) -> None:
        chat_id = event.chat_id
        count = int(event.details.get("entry_count", 0))
        if chat_id is None or count == 0:
            return
        total = float(event.details.get("total_duration_seconds", 0))
        status = _Status(chat_id=chat_id, entry_count=count, total_seconds=total)
        status = self._status.setdefault(event.session_id, status)
        self._spawn(self._send_status(status, texts.transcribing(count, total)))

    async def _on_entry_status(self, event: SessionEvent) -> None:
        status = self._status.get(event.session_id)
        if status is None or event.details.get("status") not in ("COMPLETED", "FAILED"):
            return
        done = int(event.details.get("done", 0))
        text = texts.transcribing(status.entry_count, status.total_seconds, done)
        self._spawn(self._edit_throttled(event.session_id, text))

    async def _on_state_changed(self, event: SessionEvent) -> None:
        to_state = event.details.get("to_state")
        from_state = event.details.get("from_state")
        if to_state == SessionState.TRANSCRIBED or (
            to_state == SessionState.ERROR and from_state != SessionState.PROCESSING
        ):
            self._spawn(self.deliver(event.session_id))
        elif to_state == SessionState.PROCESSED or (
            to_state == SessionState.ERROR and from_state == SessionState.PROCESSING
        ):
            self._spawn(self.deliver_outputs(event.session_id))

    # -- status message ------------------------------------------------------------------

    async def _send_status(self, status: _Status, text: str) -> None:
        async with status.lock:
            if status.message_id is not None:
                return
            message = await self._bot.send_message(status.chat_id, text)
            status.message_id = message.message_id
            status.text = text
            status.last_edit = time.monotonic()

    async def _edit_throttled(self, session_id: str, text: str) -> None:
        status = self._status.get(session_id)
        if status is None:
            return
        status.text = text
        if status.pending is not None and not status.pending.done():
            return  # the scheduled edit will pick up the newest text
        wait = status.last_edit + self._edit_interval - time.monotonic()
        if wait > 0:
            status.pending = asyncio.current_task()
            await asyncio.sleep(wait)
        await self._apply_edit(status)

    async def _apply_edit(self, status: _Status) -> None:
        async with status.lock:
            if status.message_id is None:
                return
            with contextlib.suppress(TelegramAPIError):  # "not modified", or deleted by the user
                await self._bot.edit_message_text(
                    status.text, chat_id=status.chat_id, message_id=status.message_id
                )
            status.last_edit = time.monotonic()

    # -- delivery ------------------------------------------------------------------------

    async def deliver(self, session_id: str) -> None:
        """Send the session's transcript (or its failure) to its chat, once."""
        lock = self._delivering.setdefault(session_id, asyncio.Lock())
        async with lock:
            session = await self._manager.require_session(session_id)
            if session.delivered_at is not None:
                return
            started = time.perf_counter()
            if session.audio_entries:
                await self._send_transcript(session)
            await self._manager.mark_delivered(session_id)
            _log.info(
                "transcript_delivered",
                session_id=session_id,
                chat_id=session.chat_id,
                state=session.state.value,
                seconds=round(time.perf_counter() - started, 3),
            )
        self._delivering.pop(session_id, None)
        self._status.pop(session_id, None)

    async def _send_transcript(self, session: Session) -> None:
        chat_id = session.chat_id
        status = self._status.get(session.session_id)
        # By what transcription achieved, not the state now: a processor may already have
        # moved the session on (or failed) by the time this runs.
        if session.transcribed_at is None:
            await self._finish_status(status, texts.session_failed(session))
            if status is None:
                await self._bot.send_message(chat_id, texts.session_failed(session))
            return
        await self._finish_status(status, texts.transcribed(session))
        path = self._manager.get_session_path(session.session_id) / PROCESS_INPUT
        async with aiofiles.open(path, encoding="utf-8") as handle:
            transcript = await handle.read()
        chunks = texts.split_message(transcript)
        if not chunks:
            await self._bot.send_message(chat_id, texts.EMPTY_TRANSCRIPT)
        for n, chunk in enumerate(chunks):
            text = f"{texts.transcript_header(session)}\n\n{chunk}" if n == 0 else chunk
            if len(text) > texts.MESSAGE_LIMIT:  # the header pushed it over: send it alone
                await self._bot.send_message(chat_id, texts.transcript_header(session))
                text = chunk
            await self._bot.send_message(chat_id, text)
        if len(chunks) > 1:
            document = BufferedInputFile(
                transcript.encode(), filename=f"transcript_{session.session_id}.txt"
            )
            await self._bot.send_document(chat_id, document)
        failed = texts.failed_entries(session)
        if failed:
            await self._bot.send_message(chat_id, failed)

    async def deliver_outputs(self, session_id: str) -> None:
        """Send the processing stage's files (or its failure) to the chat, once."""
        lock = self._delivering.setdefault(session_id, asyncio.Lock())
        async with lock:
            session = await self._manager.require_session(session_id)
            if session.outputs_delivered_at is not None or session.delivered_at is None:
                return  # already sent, or the transcript itself has not gone out yet
            if session.state is SessionState.PROCESSED:
                folder = self._manager.get_session_path(session_id) / PROCESS_OUTPUT_DIR
                files = await asyncio.to_thread(_output_files, folder)
                await self._send_outputs(session.chat_id, files)
            else:
                failure = next(
                    (e for e in reversed(session.errors) if e.code == "processor_failed"), None
                )
                reason = failure.message if failure else "unknown error"
                await self._bot.send_message(session.chat_id, texts.processing_failed(reason))
            await self._manager.mark_outputs_delivered(session_id)
            _log.info("outputs_delivered", session_id=session_id, state=session.state.value)
        self._delivering.pop(session_id, None)

    async def _send_outputs(self, chat_id: int, files: list[tuple[Path, int]]) -> None:
        if not files:
            await self._bot.send_message(chat_id, texts.PROCESSED_NO_FILES)
            return
        for path, size in files:
            if size > UPLOAD_LIMIT_BYTES:
                await self._bot.send_message(chat_id, texts.output_too_big(path.name, size))
            else:
                await self._bot.send_document(chat_id, FSInputFile(path, filename=path.name))

    async def _finish_status(self, status: _Status | None, text: str) -> None:
        if status is None:
            return
        if status.pending is not None and status.pending is not asyncio.current_task():
            status.pending.cancel()
        status.text = text
        await self._apply_edit(status)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("notifier_task_failed", error=repr(task.exception()))
