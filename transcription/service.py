"""The in-process service that transcribes notes in the background.

With ``LIVE_TRANSCRIPTION`` on, every note is queued as soon as it is recorded (the
``AudioAdded`` event), while its session is still collecting, so ``/done`` finds most of the
work done. A finalized session (the ``finalized`` event) gets a finisher: it asks for every
entry at the finalized priority (joining runs already under way, moving queued ones up),
then writes the transcript and moves the session to TRANSCRIBED. At start-up, sessions left
in TRANSCRIBING are finished and (live) unfinished notes of collecting sessions queued
again, so a crash loses no work and repeats none that finished. The transcriber runs the
model here or, through the task queue, on other machines; either way no more than
``TRANSCRIPTION_CONCURRENCY`` notes are in flight, which is what makes the priority hold.
A session cancelled or deleted meanwhile has its notes' runs cut off (their jobs given up).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

import structlog

from sessions import (
    AudioAdded,
    EntryNotFoundError,
    ErrorEntry,
    InvalidStateError,
    Session,
    SessionDeleted,
    SessionFinalized,
    SessionManager,
    SessionNotFoundError,
    SessionState,
    StateChanged,
    TranscriptionStatus,
)
from transcription.dropping import SessionCalls
from transcription.engine import AudioPrefetcher, Transcriber
from transcription.pipeline import EntryGone, entries_to_do, finish_session, transcribe_entry
from transcription.scheduler import (
    EntryKey,
    EntryScheduler,
    finalized_priority,
    live_priority,
)
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.service")

# What a run raises when its note or session went away (an /undo, /cancel, /forget).
_GONE = (EntryGone, SessionNotFoundError, EntryNotFoundError, InvalidStateError)
_UNFINISHED = (TranscriptionStatus.PENDING, TranscriptionStatus.IN_PROGRESS)
_DONE = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
# A finisher asks again for entries a round left unfinished (a live run that found its
# audio gone puts its note back; a note removed and another given its number); each round
# after the first starts every run in TRANSCRIBING, where nothing is put back.
_MAX_ROUNDS = 3

RunOutcome = TranscriptionStatus | None
"""An entry's status after a run, or None when it went away and nothing was recorded."""


class TranscriptionService:
    """Transcribes notes live and finalized sessions to the end, best priority first.

    Finalized sessions go first, in the order they were finalized; live notes after, in the
    order they arrived. ``TRANSCRIPTION_CONCURRENCY`` bounds the entries in flight across
    all sessions (one: strictly one after another).
    """

    def __init__(
        self,
        manager: SessionManager,
        transcriber: Transcriber,
        settings: TranscriptionSettings,
    ) -> None:
        self._manager = manager
        # Per session, so that a cancelled or deleted session's notes stop being transcribed.
        self._calls = SessionCalls(transcriber)
        self._settings = settings
        self._prefetcher = transcriber if isinstance(transcriber, AudioPrefetcher) else None
        self._prefetches: set[asyncio.Task[None]] = set()
        self._scheduler: EntryScheduler[RunOutcome] = EntryScheduler(
            self._run_entry,
            settings.transcription_concurrency,
            ahead=self._prefetch if self._prefetcher is not None else None,
        )
        self._finishers: dict[str, asyncio.Task[None]] = {}
        self._finalized = itertools.count()
        self._arrivals = itertools.count()
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def scheduler(self) -> EntryScheduler[RunOutcome]:
        """The queue of entries (for tests and figures)."""
        return self._scheduler

    async def start(self) -> None:
        """Listen for notes and finalized sessions, and queue the work a previous run left."""
        bus = self._manager.events
        self._unsubscribe.append(bus.subscribe(self._on_finalized, SessionFinalized))
        self._unsubscribe.append(bus.subscribe(self._on_ended, StateChanged))
        self._unsubscribe.append(bus.subscribe(self._on_deleted, SessionDeleted))
        if self._settings.live_transcription:
            self._unsubscribe.append(bus.subscribe(self._on_audio_added, AudioAdded))
        resumable = await self._manager.sessions_in_states(SessionState.TRANSCRIBING)
        for session in resumable:
            order = self._start_finisher(session.session_id)
            if order is None:
                continue
            # Queued now, before the open sessions' notes below and before any worker runs,
            # so that no live note goes ahead of them (the finisher joins these runs).
            for entry in session.audio_entries:
                if entry.transcription_status in _UNFINISHED:
                    key = EntryKey(session.session_id, entry.sequence)
                    self._scheduler.submit(key, finalized_priority(order, entry.sequence))
        if resumable:
            _log.info("sessions_resumed", count=len(resumable))
        if self._settings.live_transcription:
            collecting = await self._manager.sessions_in_states(SessionState.COLLECTING)
            queued = 0
            for session in collecting:
                for entry in session.audio_entries:
                    if entry.transcription_status in _UNFINISHED:
                        self.queue_live(session.session_id, entry.sequence)
                        queued += 1
            if queued:
                _log.info("live_entries_resumed", count=queued)
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop taking work. An entry cut off mid-way stays IN_PROGRESS and is redone later."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        pending = [*self._finishers.values(), *self._prefetches]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._scheduler.stop()

    def enqueue(self, session_id: str) -> None:
        """Finish a finalized session (once: a session already being finished is not
        queued again). Its entries go after those of sessions enqueued before it."""
        self._start_finisher(session_id)

    def _start_finisher(self, session_id: str) -> int | None:
        """The finisher's place in the finalized order; None if one is already running."""
        if session_id in self._finishers:
            return None
        order = next(self._finalized)
        task = asyncio.create_task(self._finish(session_id, order), name=f"finish-{session_id}")
        self._finishers[session_id] = task
        task.add_done_callback(lambda _: self._finishers.pop(session_id, None))
        return order

    def queue_live(self, session_id: str, sequence: int) -> None:
        """Queue one note of a collecting session, after everything queued before it."""
        key = EntryKey(session_id, sequence)
        run = self._scheduler.submit(key, live_priority(next(self._arrivals)))
        if key in self._scheduler.running():
            # A run of this number is under way: a note taken back with /undo whose number
            # this one was given. That run will drop the old note; then this one is asked
            # for again (a note already done by then is left alone, at no cost).
            run.add_done_callback(lambda ended: self._queue_again(key, ended))

    def _queue_again(self, key: EntryKey, ended: asyncio.Future[RunOutcome]) -> None:
        if ended.cancelled() or not self._unsubscribe:  # the service is stopping
            return
        self.queue_live(key.session_id, key.sequence)

    async def wait_idle(self) -> None:
        """Wait until every queued session has been finished and every queued note run."""
        while True:
            while self._finishers:
                await asyncio.gather(*list(self._finishers.values()), return_exceptions=True)
            await self._scheduler.wait_idle()
            await asyncio.sleep(0)  # a run's callbacks first: they may queue a note again
            if not self._finishers and self._scheduler.idle:
                return

    async def _on_finalized(self, event: SessionFinalized) -> None:
        self.enqueue(event.session_id)

    async def _on_audio_added(self, event: AudioAdded) -> None:
        self.queue_live(event.session_id, event.sequence)

    async def _on_ended(self, event: StateChanged) -> None:
        # /cancel (COLLECTING -> ERROR) and any other end in ERROR: its notes are not wanted.
        if event.to_state is SessionState.ERROR:
            self._calls.drop(event.session_id)

    async def _on_deleted(self, event: SessionDeleted) -> None:
        self._calls.drop(event.session_id)  # /forget, or retention

    def _prefetch(self, key: EntryKey) -> None:
        task = asyncio.create_task(self._prefetch_audio(key), name="prefetch")
        self._prefetches.add(task)
        task.add_done_callback(self._prefetches.discard)

    async def _prefetch_audio(self, key: EntryKey) -> None:
        """Hint the transcriber at the audio of the entry to be run next (best effort)."""
        assert self._prefetcher is not None
        try:
            session = await self._manager.require_session(key.session_id)
            entry = session.entry(key.sequence)
            if entry is None or entry.transcription_status not in _UNFINISHED:
                return
            folder = self._manager.folder(key.session_id)
            if await asyncio.to_thread(folder.has_audio, entry.filename):
                self._prefetcher.prefetch(folder.audio_path(entry.filename))
        except Exception as exc:  # only a hint: the run itself finds and reports any fault
            _log.debug("prefetch_skipped", session_id=key.session_id, error=repr(exc))

    async def _run_entry(self, key: EntryKey) -> RunOutcome:
        """One run of one entry; a note or session that went away is dropped quietly."""
        log = _log.bind(session_id=key.session_id, sequence=key.sequence)
        try:
            transcriber = self._calls.for_session(key.session_id)
            return await transcribe_entry(
                self._manager, transcriber, key.session_id, key.sequence, self._settings
            )
        except _GONE as exc:
            log.info("entry_dropped", reason=str(exc))
            return None
        except OSError as exc:
            if await self._session_ended(key.session_id):
                log.info("entry_dropped", reason=f"session ended: {exc}")
                return None
            log.exception("entry_storage_failed")
            raise
        except Exception:
            # A bug, not bad input: the entry stays IN_PROGRESS and is redone later.
            log.exception("entry_transcription_crashed")
            raise

    async def _session_ended(self, session_id: str) -> bool:
        try:
            session = await self._manager.get_session(session_id)
        except Exception:
            return False
        return session is None or session.state not in (
            SessionState.COLLECTING,
            SessionState.TRANSCRIBING,
        )

    async def _finish(self, session_id: str, order: int) -> None:
        log = _log.bind(session_id=session_id)
        started = time.perf_counter()
        try:
            session = await self._transcribe_all(session_id, order)
        except _GONE as exc:
            log.info("session_dropped", reason=str(exc))
            return
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

    async def _transcribe_all(self, session_id: str, order: int) -> Session:
        """Every entry still to do, at this session's priority, then finish_session."""
        for _ in range(_MAX_ROUNDS):
            session = await self._manager.require_session(session_id)
            if session.state is not SessionState.TRANSCRIBING:
                return session
            # Only what is left: a session whose notes are all done must not wait for a free
            # slot (another chat's long live note may hold it) just to learn that.
            folder = self._manager.folder(session_id)
            todo = await asyncio.to_thread(entries_to_do, folder, session)
            runs = [
                self._scheduler.submit(EntryKey(session_id, n), finalized_priority(order, n))
                for n in sorted(todo)
            ]
            # Shielded: a finisher cancelled at shutdown must not cancel runs others share.
            outcomes = await asyncio.gather(
                *(asyncio.shield(r) for r in runs), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
            if all(outcome in _DONE for outcome in outcomes):
                break
        return await finish_session(self._manager, session_id)

    async def _give_up(self, session_id: str, message: str) -> None:
        with contextlib.suppress(Exception):
            await self._manager.add_error(session_id, ErrorEntry(message=message, code="storage"))
        with contextlib.suppress(Exception):
            await self._manager.transition_state(session_id, SessionState.ERROR)
