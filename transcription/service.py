"""The in-process service that transcribes finalized sessions in the background.

It hears ``finalized`` events, and at start-up resumes every session left in TRANSCRIBING,
so a crash loses no work and repeats none that finished. The transcriber it is given runs
the model here or, through the task queue, on other machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from sessions import ErrorEntry, SessionFinalized, SessionManager, SessionState
from transcription.engine import Transcriber
from transcription.pipeline import transcribe_session
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.service")


class TranscriptionService:
    """In-process service: a queue of sessions to transcribe and the tasks that drain it.

    Sessions are taken in the order they were finalized. ``TRANSCRIPTION_CONCURRENCY``
    bounds the entries in flight across all sessions (one: strictly one after another).
    """

    def __init__(
        self,
        manager: SessionManager,
        transcriber: Transcriber,
        settings: TranscriptionSettings,
    ) -> None:
        self._manager = manager
        self._transcriber = transcriber
        self._settings = settings
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._slots = asyncio.Semaphore(settings.transcription_concurrency)

    async def start(self) -> None:
        """Listen for finalized sessions and queue every session left in TRANSCRIBING."""
        self._unsubscribe = self._manager.events.subscribe(self._on_finalized, SessionFinalized)
        for n in range(self._settings.transcription_concurrency):
            self._tasks.append(asyncio.create_task(self._run(), name=f"transcription-service-{n}"))
        resumable = await self._manager.sessions_in_states(SessionState.TRANSCRIBING)
        for session in resumable:
            self.enqueue(session.session_id)
        if resumable:
            _log.info("sessions_resumed", count=len(resumable))

    async def stop(self) -> None:
        """Stop taking work. An entry cut off mid-way stays IN_PROGRESS and is redone later."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def enqueue(self, session_id: str) -> None:
        """Queue a session (once: a session already waiting is not queued again)."""
        if session_id in self._pending:
            return
        self._pending.add(session_id)
        self._queue.put_nowait(session_id)

    async def wait_idle(self) -> None:
        """Wait until every queued session has been worked on."""
        await self._queue.join()

    async def _on_finalized(self, event: SessionFinalized) -> None:
        self.enqueue(event.session_id)

    async def _run(self) -> None:
        while True:
            session_id = await self._queue.get()
            try:
                await self._process(session_id)
            finally:
                self._pending.discard(session_id)
                self._queue.task_done()

    async def _process(self, session_id: str) -> None:
        log = _log.bind(session_id=session_id)
        started = time.perf_counter()
        try:
            session = await transcribe_session(
                self._manager, self._transcriber, session_id, self._settings, limit=self._slots
            )
        except OSError as exc:
            log.exception("session_storage_failed")
            await self._give_up(session_id, f"storage failed: {exc}")
            return
        except Exception:
            # A bug, not bad input: leave the session TRANSCRIBING so a restart retries it.
            log.exception("session_transcription_crashed")
            return
        log.info(
            "session_transcription_done",
            state=session.state.value,
            entries=len(session.audio_entries),
            seconds=round(time.perf_counter() - started, 2),
        )

    async def _give_up(self, session_id: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await self._manager.add_error(session_id, ErrorEntry(message=message, code="storage"))
        with contextlib.suppress(Exception):
            await self._manager.transition_state(session_id, SessionState.ERROR)
