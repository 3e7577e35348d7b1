"""The in-process service that runs the processor on transcribed sessions.

TRANSCRIBED -> PROCESSING -> PROCESSED, or ERROR with a ``processor_failed`` error entry.
It hears ``state_changed`` events. What it owes is kept durably: a session finalized while
the stage runs is marked ``processing_due`` in its metadata, so one that reaches TRANSCRIBED
when nobody listens (during shutdown, or in a crash) is processed at the next start, whether
or not its transcript went out meanwhile. The mark is cleared as the session reaches PROCESSED
or ERROR (sessions left marked by older versions are cleared at start-up), so retention
knows nothing is owed any more. At start-up it resumes sessions left in PROCESSING
and processes the TRANSCRIBED ones marked due. A session is processed by
one task at a time (a set of running ids here, and a ``flock`` on ``process/.processing.lock``
against other processes); a run that is cut off leaves it PROCESSING, to be redone from
scratch, with ``process/output/`` emptied first.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog

from processing.base import Processor, ProcessorError, within_session
from sessions import ErrorEntry, InvalidStateError, SessionState, StateChanged
from sessions.state_machine import is_terminal

if TYPE_CHECKING:  # annotations only
    from sessions import Session, SessionFolder, SessionManager

_log = structlog.get_logger("processing.service")

ERROR_CODE = "processor_failed"


class ProcessingService:
    """Runs ``processor`` on every session that becomes TRANSCRIBED, as a background task."""

    def __init__(self, manager: SessionManager, processor: Processor) -> None:
        self._manager = manager
        self._processor = processor
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._stopped = False

    @property
    def processor(self) -> Processor:
        return self._processor

    def running(self) -> set[str]:
        """Ids of the sessions being processed now."""
        return set(self._tasks)

    async def start(self) -> None:
        """Listen for TRANSCRIBED sessions, and take up work left from a previous run."""
        self._stopped = False
        self._unsubscribe = self._manager.events.subscribe(self._on_state_changed, StateChanged)
        # Still being transcribed (resumed by the transcription service): owed a run too.
        for session in await self._manager.sessions_in_states(SessionState.TRANSCRIBING):
            await self._mark_due(session.session_id)
        leftover = await self._manager.sessions_in_states(
            SessionState.PROCESSING,
            SessionState.TRANSCRIBED,
            SessionState.PROCESSED,
            SessionState.ERROR,
        )
        await self._repair_ended(s for s in leftover if is_terminal(s.state))
        resumed = [
            s.session_id for s in leftover if s.state is SessionState.PROCESSING or _is_due(s)
        ]
        for session_id in resumed:
            self.submit(session_id)
        if resumed:
            _log.info("processing_resumed", count=len(resumed), processor=self._processor.name)

    async def _repair_ended(self, ended: Iterable[Session]) -> None:
        """Clear ``processing_due`` of sessions whose processing is over (PROCESSED, or
        ERROR) but that still carry it: written before the marker was cleared on the way
        there, it kept retention off them for ever."""
        repaired = 0
        for session in ended:
            if not session.processing_due:
                continue
            try:
                await self._manager.clear_processing_due(session.session_id)
            except Exception:  # left for the next start; retention ignores it meanwhile
                _log.exception("processing_due_not_cleared", session_id=session.session_id)
                continue
            repaired += 1
        if repaired:
            _log.info("processing_due_cleared", count=repaired)

    async def stop(self) -> None:
        """Stop listening and cancel work under way (its sessions stay PROCESSING)."""
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until no session is being processed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def submit(self, session_id: str) -> None:
        """Process a session in the background, unless it is already being processed."""
        if self._stopped or session_id in self._tasks:
            return
        task = asyncio.create_task(self._process(session_id), name=f"processing-{session_id}")
        self._tasks[session_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(session_id) is done:
                del self._tasks[session_id]

        task.add_done_callback(forget)

    async def _on_state_changed(self, event: StateChanged) -> None:
        if event.to_state is SessionState.TRANSCRIBING:
            await self._mark_due(event.session_id)
        elif event.to_state is SessionState.TRANSCRIBED:
            await self._mark_due(event.session_id)  # durable before the work starts
            self.submit(event.session_id)

    async def _mark_due(self, session_id: str) -> None:
        try:
            await self._manager.mark_processing_due(session_id)
        except Exception:  # the event path still runs it; only a crash would forget it
            _log.exception("processing_due_not_recorded", session_id=session_id)

    async def _process(self, session_id: str) -> None:
        log = _log.bind(session_id=session_id, processor=self._processor.name)
        try:
            folder = self._manager.folder(session_id)
            # Not in a thread: a cancellation must never leave a lock taken behind our back.
            lock = folder.try_processing_lock()
        except Exception:
            log.exception("processing_not_started")
            return
        if lock is None:
            log.info("processing_elsewhere")  # another service or process holds the session
            return
        try:
            await self._process_locked(session_id, folder, log)
        finally:
            os.close(lock)

    async def _process_locked(self, session_id: str, folder: SessionFolder, log: Any) -> None:
        try:
            session = await self._manager.require_session(session_id)
            # Under the lock a PROCESSING session is nobody's: a run that was cut off.
            resumed = session.state is SessionState.PROCESSING
            if session.state is SessionState.TRANSCRIBED:
                session = await self._manager.transition_state(session_id, SessionState.PROCESSING)
            elif not resumed:
                return  # already processed, failed, or not transcribed: nothing to do
            await asyncio.to_thread(folder.clear_output)
        except InvalidStateError:
            return  # moved on by someone else in the meantime
        except Exception:
            log.exception("processing_not_started")
            return

        log.info("processing_started", resumed=resumed)
        started = time.perf_counter()
        try:
            await self._processor.run(session, folder)
        except asyncio.CancelledError:
            log.info("processing_cancelled", seconds=_since(started))
            raise
        except ProcessorError as exc:
            message = within_session(exc.message, folder.path)
            await self._fail(log, session_id, message, exc.details, started)
            return
        except Exception as exc:
            log.exception("processor_crashed")
            reason = within_session(f"{type(exc).__name__}: {exc}", folder.path)
            message = f"the {self._processor.name} processor crashed: {reason}"
            await self._fail(log, session_id, message, {"exception": repr(exc)}, started)
            return
        try:
            await self._manager.transition_state(session_id, SessionState.PROCESSED)
        except Exception:
            # Left PROCESSING: the next start runs the processor again.
            log.exception("processing_not_recorded")
            return
        log.info("processing_done", seconds=_since(started))

    async def _fail(
        self,
        log: Any,
        session_id: str,
        message: str,
        details: dict[str, Any],
        started: float,
    ) -> None:
        log.warning(
            "processing_failed",
            seconds=_since(started),
            error=message,
            exit_status=details.get("exit_status"),
        )
        error = ErrorEntry(
            message=message,
            code=ERROR_CODE,
            details={"processor": self._processor.name, **details},
        )
        try:
            await self._manager.add_error(session_id, error)
            await self._manager.transition_state(session_id, SessionState.ERROR)
        except Exception:
            log.exception("processing_failure_not_recorded")


def _is_due(session: Session) -> bool:
    """Whether a TRANSCRIBED session still waits for this stage.

    Metadata written before the ``processing_due`` marker existed has no such key: for it,
    the old rule (not delivered yet) is all there is to go on.
    """
    if "processing_due" in session.model_fields_set:
        return session.processing_due
    return session.delivered_at is None


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
