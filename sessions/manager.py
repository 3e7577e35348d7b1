"""The async session manager: the contract's operations over a :class:`SessionStorage`.

Each operation that changes a session is a read-modify-write under the session's lock: an
in-process ``asyncio.Lock`` (so waiters queue on the loop, not in threads) and the
storage's cross-process file lock, taken in a worker thread together with the blocking
reads and fsyncs. Changes that queue up for the same session while a write is under way
are applied together in the next one (group commit): a burst of 50 voice notes costs a
few fsyncs, not 100. Events are published after the change is durable.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog

from sessions import events as ev
from sessions.config import SessionConfig
from sessions.contract import SessionManager
from sessions.errors import (
    AudioRejectedError,
    CorruptSessionError,
    EntryNotFoundError,
    InvalidStateError,
    SessionImmutableError,
    SessionNotFoundError,
)
from sessions.events import EventBus
from sessions.folder import SessionFolder
from sessions.ids import candidate_ids
from sessions.layout import is_plain_filename
from sessions.locks import KeyedLocks
from sessions.models import (
    AudioEntry,
    ErrorEntry,
    Session,
    SessionState,
    TranscriptionStatus,
    utc_now,
)
from sessions.state_machine import ensure_transition
from sessions.storage import SessionStorage

# A change returns the events it caused, or None when it changed nothing. It must raise
# before it modifies the session: changes are applied in batches to one loaded copy.
# Each is the event class with its fields filled in; the session's ids are added on publishing.
_Events = list[Callable[..., ev.Event]]
_Change = Callable[[Session], _Events | None]


@dataclass
class _Queued:
    change: _Change
    done: asyncio.Future[tuple[Session, _Events]]


_log = structlog.get_logger("sessions.manager")

_FINISHED = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)


class FileSessionManager(SessionManager):
    """:class:`SessionManager` over a :class:`SessionStorage`, safe across tasks and processes."""

    def __init__(
        self,
        storage: SessionStorage,
        config: SessionConfig | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.storage = storage
        self.config = config or SessionConfig()
        self.events = events or EventBus()
        self._locks = KeyedLocks()
        self._queued: dict[str, list[_Queued]] = {}

    # -- queries ---------------------------------------------------------------------------

    def get_session_path(self, session_id: str) -> Path:
        """Folder of a session. Validates the id's form but does not touch the disk."""
        return self.storage.session_path(session_id)

    def folder(self, session_id: str) -> SessionFolder:
        """The session's files. Validates the id's form but does not touch the disk."""
        return SessionFolder(self.storage.session_path(session_id))

    async def get_session(self, session_id: str) -> Session | None:
        self.storage.session_path(session_id)  # a malformed id raises SessionNotFoundError
        return await asyncio.to_thread(self.storage.load, session_id)

    async def require_session(self, session_id: str) -> Session:
        """Like :meth:`get_session`, but SessionNotFoundError when it does not exist."""
        session = await self.get_session(session_id)
        if session is None:
            raise SessionNotFoundError(f"unknown session: {session_id}")
        return session

    async def get_active_session(self, chat_id: int | None = None) -> Session | None:
        if chat_id is not None:
            return await asyncio.to_thread(self._active_sync, chat_id)
        return await asyncio.to_thread(self._any_active_sync)

    async def list_sessions(self, limit: int = 10, *, chat_id: int | None = None) -> list[Session]:
        return await asyncio.to_thread(self._list_sync, limit, chat_id)

    async def sessions_in_states(self, *states: SessionState) -> list[Session]:
        """Every readable session in one of ``states``, oldest first (to resume work)."""
        wanted = frozenset(states)

        def scan() -> list[Session]:
            return [s for s in self._iter_readable(self.storage.list_all()) if s.state in wanted]

        return await asyncio.to_thread(scan)

    async def remove_leftovers(self) -> list[Path]:
        """At start, before anything writes: delete partial downloads and temporary files
        that writes cut off by a crash left in the session folders; returns them (logged)."""
        removed = await asyncio.to_thread(self.storage.remove_leftovers)
        for path in removed:
            _log.info("leftover_removed", path=str(path))
        return removed

    # -- lifecycle ---------------------------------------------------------------------------

    async def create_session(self, chat_id: int) -> Session:
        return await self._open_session(chat_id, replace_active=True)

    async def ensure_active_session(self, chat_id: int) -> Session:
        """The chat's active session, creating one if there is none (never finalizes)."""
        return await self._open_session(chat_id, replace_active=False)

    async def start_session(self, chat_id: int) -> Session:
        """A session with no notes yet for the chat, as asked for by a user.

        Like :meth:`create_session`, except that an open session holding no notes is kept
        and returned: finalizing it would send an empty session through transcription,
        processing and delivery for nothing.
        """
        return await self._open_session(chat_id, replace_active=True, keep_empty=True)

    async def finalize_session(self, session_id: str) -> Session:
        return await self.transition_state(session_id, SessionState.TRANSCRIBING)

    async def transition_state(self, session_id: str, new_state: SessionState) -> Session:
        def change(session: Session) -> _Events:
            return _apply_transition(session, new_state)

        return await self._mutate(session_id, change)

    async def mark_delivered(self, session_id: str) -> Session:
        """Record that the session's transcript reached the chat (idempotent)."""
        return await self._stamp_once(session_id, "delivered_at", ev.Delivered)

    async def mark_outputs_delivered(self, session_id: str) -> Session:
        """Record that the processing stage's outcome reached the chat (idempotent)."""
        return await self._stamp_once(session_id, "outputs_delivered_at", ev.OutputsDelivered)

    async def record_delivery(
        self, session_id: str, part: str, refused: str | None = None
    ) -> Session:
        """Record that one part of the delivery reached the chat, or (with ``refused``, the
        reason) that Telegram refused it for good. Idempotent."""

        def change(session: Session) -> _Events | None:
            progress = session.delivery
            if refused is None:
                if part in progress.sent:
                    return None
                progress.sent.append(part)
            else:
                if part in progress.refused:
                    return None
                progress.refused[part] = refused
            return []

        return await self._mutate(session_id, change)

    async def mark_processing_due(self, session_id: str) -> Session:
        """Record that the processing stage owes the session a run (idempotent).

        Only a session on its way to TRANSCRIBED (or there) is marked; later states already
        say what processing did.
        """

        def change(session: Session) -> _Events | None:
            due = (SessionState.TRANSCRIBING, SessionState.TRANSCRIBED)
            if session.processing_due or session.state not in due:
                return None
            session.processing_due = True
            return []

        return await self._mutate(session_id, change)

    async def _stamp_once(
        self, session_id: str, field: str, event: Callable[..., ev.Event]
    ) -> Session:
        def change(session: Session) -> _Events | None:
            if getattr(session, field) is not None:
                return None
            setattr(session, field, utc_now())
            return [event]

        return await self._mutate(session_id, change)

    # -- audio -------------------------------------------------------------------------------

    async def reserve_sequence(self, session_id: str, message_id: int | None = None) -> int:
        """Take the next sequence number, in the order calls arrive.

        With a ``message_id`` the reservation is remembered: asking again for the same
        message (a redelivered update, a retry after a crash) returns the same number.
        """
        sequence, _ = await self.reserve(session_id, message_id)
        return sequence

    async def reserve(self, session_id: str, message_id: int | None = None) -> tuple[int, Session]:
        """:meth:`reserve_sequence`, also returning the session as saved.

        ``session.entry_for_message(message_id)`` then tells whether the message is already
        recorded. The request joins the session's write queue before this coroutine first
        suspends, so reservations started in some order are numbered in that order.
        """
        taken: list[int] = []

        def change(session: Session) -> _Events | None:
            _ensure_collecting(session)
            if message_id is not None:
                existing = session.entry_for_message(message_id)
                if existing is not None:
                    taken.append(existing.sequence)
                    return None
                if message_id in session.reserved_sequences:
                    taken.append(session.reserved_sequences[message_id])
                    return None
                session.reserved_sequences[message_id] = session.next_sequence
            taken.append(session.next_sequence)
            session.next_sequence += 1
            return []

        session = await self._mutate(session_id, change)
        return taken[0], session

    async def release_reservation(self, session_id: str, message_id: int) -> Session:
        """Give back the number reserved for a message that will not be recorded after all.

        When it is the last number handed out, it is taken back, so the next note gets it
        and the session's numbering stays without gaps; when later notes already hold
        later numbers, it stays a gap (renumbering them would rename files in flight).
        Does nothing for a message already recorded, or a session no longer COLLECTING.
        """

        def change(session: Session) -> _Events | None:
            if session.state is not SessionState.COLLECTING:
                return None
            if session.entry_for_message(message_id) is not None:
                return None
            sequence = session.reserved_sequences.pop(message_id, None)
            if sequence is None:
                return None
            if sequence == session.next_sequence - 1 and session.entry(sequence) is None:
                session.next_sequence = sequence
            return []

        return await self._mutate(session_id, change)

    async def add_audio(self, session_id: str, audio_entry: AudioEntry) -> Session:
        """Record ``audio_entry``, as the contract says: whether its file is in the session's
        ``audio/`` is not checked here (an entry whose audio is missing fails alone, at
        transcription).

        Idempotent on ``message_id``: a second call for the same Telegram message returns
        the session unchanged.
        """
        # Validated again: an entry built without validation is refused as malformed
        # (a ValueError) rather than stored.
        entry = AudioEntry.model_validate(audio_entry.model_dump())
        max_duration = self.config.max_audio_duration_seconds

        def change(session: Session) -> _Events | None:
            _ensure_collecting(session)
            if entry.message_id is not None and session.entry_for_message(entry.message_id):
                return None
            if entry.duration_seconds > max_duration:
                raise AudioRejectedError(
                    f"audio is {entry.duration_seconds:.0f} s long; the limit is {max_duration} s"
                )
            if session.entry(entry.sequence) is not None:
                raise AudioRejectedError(f"sequence {entry.sequence} is already taken")
            reserved = session.reserved_sequences.get(entry.message_id or -1)
            if entry.message_id is not None and reserved not in (None, entry.sequence):
                raise AudioRejectedError(
                    f"message {entry.message_id} holds sequence {reserved}, not {entry.sequence}"
                )
            if not is_plain_filename(entry.filename):
                raise AudioRejectedError(f"not a plain file name: {entry.filename!r}")
            entry.transcription_status = TranscriptionStatus.PENDING
            session.audio_entries.append(entry)
            session.audio_entries.sort(key=lambda e: e.sequence)
            session.next_sequence = max(session.next_sequence, entry.sequence + 1)
            if entry.message_id is not None:
                session.reserved_sequences.pop(entry.message_id, None)
            added = partial(
                ev.AudioAdded,
                sequence=entry.sequence,
                filename=entry.filename,
                duration_seconds=entry.duration_seconds,
                entry_count=len(session.audio_entries),
                total_duration_seconds=session.total_duration_seconds,
            )
            return [added]

        return await self._mutate(session_id, change)

    async def update_transcription_status(
        self,
        session_id: str,
        sequence: int,
        status: TranscriptionStatus,
        transcript_filename: str | None = None,
        *,
        error: str | None = None,
    ) -> Session:
        """Set one entry's status while the session is COLLECTING (a note transcribed
        live) or TRANSCRIBING; InvalidStateError in any other state.

        COMPLETED needs a transcript file name; FAILED records ``error`` on the entry.
        """

        def change(session: Session) -> _Events | None:
            if session.state not in (SessionState.COLLECTING, SessionState.TRANSCRIBING):
                raise InvalidStateError(
                    f"session {session_id} is {session.state}; entry statuses change only "
                    "while COLLECTING or TRANSCRIBING"
                )
            entry = session.entry(sequence)
            if entry is None:
                raise EntryNotFoundError(f"session {session_id} has no entry {sequence}")
            filename = transcript_filename or entry.transcript_filename
            if status is TranscriptionStatus.COMPLETED and not filename:
                raise ValueError("a COMPLETED entry needs its transcript_filename")
            if filename is not None and not is_plain_filename(filename):
                raise ValueError(f"not a plain file name: {filename!r}")
            new_error = error if status is TranscriptionStatus.FAILED else None
            unchanged = (
                entry.transcription_status is status
                and entry.transcript_filename == filename
                and entry.error == new_error
            )
            if unchanged:
                return None
            entry.transcription_status = status
            entry.transcript_filename = filename
            entry.error = new_error
            statuses = [e.transcription_status for e in session.audio_entries]
            changed = partial(
                ev.EntryStatusChanged,
                sequence=sequence,
                status=status,
                completed=statuses.count(TranscriptionStatus.COMPLETED),
                failed=statuses.count(TranscriptionStatus.FAILED),
                done=sum(s in _FINISHED for s in statuses),
                total=len(statuses),
            )
            return [changed]

        return await self._mutate(session_id, change)

    async def add_error(self, session_id: str, error: ErrorEntry) -> Session:
        recorded = error.model_copy(deep=True)

        def change(session: Session) -> _Events:
            session.errors.append(recorded)
            added = partial(
                ev.ErrorAdded,
                code=recorded.code,
                message=recorded.message,
                sequence=recorded.sequence,
            )
            return [added]

        return await self._mutate(session_id, change)

    # -- internals ---------------------------------------------------------------------------

    async def _mutate(self, session_id: str, change: _Change) -> Session:
        """Apply ``change`` durably; returns the session as saved (do not modify it)."""
        self.storage.session_path(session_id)  # malformed id -> SessionNotFoundError
        item = _Queued(change, asyncio.get_running_loop().create_future())
        # Queued before the first await, so changes apply in the order they were asked for.
        self._queued.setdefault(session_id, []).append(item)
        # A task of its own, shielded: a cancelled caller must neither release the lock in
        # the middle of a write nor leave the other changes of its batch unsettled.
        await asyncio.shield(asyncio.ensure_future(self._write_queued(session_id)))
        session, changes = await item.done
        await self._publish(session, changes)
        return session

    async def _write_queued(self, session_id: str) -> None:
        """Under the session's lock, write every change queued so far (if any are left)."""
        async with self._locks.hold(f"session:{session_id}"):
            batch = self._queued.pop(session_id, [])
            if batch:
                await self._run_batch(session_id, batch)

    async def _run_batch(self, session_id: str, batch: list[_Queued]) -> None:
        results = await asyncio.to_thread(self._apply_batch, session_id, batch)
        for queued, result in zip(batch, results, strict=True):
            if queued.done.cancelled():
                continue
            if isinstance(result, BaseException):
                queued.done.set_exception(result)
            else:
                queued.done.set_result(result)

    def _apply_batch(
        self, session_id: str, batch: list[_Queued]
    ) -> list[tuple[Session, _Events] | BaseException]:
        """One locked load, every change in order, one save (blocking)."""
        try:
            with self.storage.lock(session_id):
                session = self._load_required(session_id)
                outcomes: list[_Events | BaseException | None] = []
                for queued in batch:
                    try:
                        outcomes.append(queued.change(session))
                    except Exception as exc:  # this change is refused; the others go on
                        outcomes.append(exc)
                if any(isinstance(o, list) for o in outcomes):
                    session.updated_at = utc_now()
                    self.storage.save(session)
        except Exception as exc:  # nothing was saved: every change in the batch failed
            return [exc for _ in batch]
        return [o if isinstance(o, BaseException) else (session, o or []) for o in outcomes]

    async def _open_session(
        self, chat_id: int, *, replace_active: bool, keep_empty: bool = False
    ) -> Session:
        async with self._locks.hold(f"chat:{chat_id}"):
            new, finalized, created = await asyncio.to_thread(
                self._open_sync, chat_id, replace_active, keep_empty
            )
        if finalized is not None:
            await self._publish(finalized, _transition_events(SessionState.COLLECTING, finalized))
        if created:
            await self._publish(
                new, [partial(ev.SessionCreated, auto_finalized=_id_or_none(finalized))]
            )
        return new

    def _open_sync(
        self, chat_id: int, replace_active: bool, keep_empty: bool
    ) -> tuple[Session, Session | None, bool]:
        with self.storage.chat_lock(chat_id):
            active = self._active_sync(chat_id)
            if active is not None and (
                not replace_active or (keep_empty and not active.audio_entries)
            ):
                return active, None, False
            finalized = None
            if active is not None:
                with self.storage.lock(active.session_id):
                    current = self._load_required(active.session_id)
                    if current.state is SessionState.COLLECTING:
                        _apply_transition(current, SessionState.TRANSCRIBING)
                        current.updated_at = utc_now()
                        self.storage.save(current)
                        finalized = current
            new = self._create_sync(chat_id)
            self.storage.write_active_marker(chat_id, new.session_id)
            return new, finalized, True

    def _create_sync(self, chat_id: int) -> Session:
        now = utc_now()
        for session_id in candidate_ids(now):
            try:
                folder = self.storage.create_folder_structure(session_id)
            except FileExistsError:
                continue
            session = Session(session_id=session_id, chat_id=chat_id, created_at=now)
            try:
                self.storage.save(session)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            return session
        raise RuntimeError("no free session id in this second")  # 999 in one second

    def _active_sync(self, chat_id: int) -> Session | None:
        session_id = self.storage.read_active_marker(chat_id)
        if session_id is None:
            return None
        session = self._load_or_none(session_id)
        if session is None or session.state is not SessionState.COLLECTING:
            return None
        return session if session.chat_id == chat_id else None

    def _any_active_sync(self) -> Session | None:
        found = [s for c in self.storage.active_markers() if (s := self._active_sync(c))]
        return max(found, key=lambda s: s.created_at, default=None)

    def _list_sync(self, limit: int, chat_id: int | None) -> list[Session]:
        result: list[Session] = []
        if limit <= 0:
            return result
        for session in self._iter_readable(reversed(self.storage.list_all())):
            if chat_id is None or session.chat_id == chat_id:
                result.append(session)
                if len(result) >= limit:
                    break
        return result

    def _iter_readable(self, session_ids: Iterable[str]) -> Iterator[Session]:
        for session_id in session_ids:
            session = self._load_or_none(session_id)
            if session is not None:
                yield session

    def _load_or_none(self, session_id: str) -> Session | None:
        try:
            return self.storage.load(session_id)
        except CorruptSessionError as exc:
            _log.warning("session_unreadable", session_id=session_id, reason=exc.reason)
            return None

    def _load_required(self, session_id: str) -> Session:
        session = self.storage.load(session_id)
        if session is None:
            raise SessionNotFoundError(f"unknown session: {session_id}")
        return session

    async def _publish(self, session: Session, changes: _Events) -> None:
        for make in changes:
            await self.events.publish(make(session_id=session.session_id, chat_id=session.chat_id))


def _ensure_collecting(session: Session) -> None:
    if session.state is not SessionState.COLLECTING:
        raise SessionImmutableError(
            f"session {session.session_id} is {session.state}; audio can only be added "
            "while it is COLLECTING"
        )


def _apply_transition(session: Session, new_state: SessionState) -> _Events:
    old = session.state
    ensure_transition(session.session_id, old, new_state)
    session.state = new_state
    now = utc_now()
    if new_state is SessionState.TRANSCRIBING:
        session.finalized_at = now
    elif new_state is SessionState.TRANSCRIBED:
        session.transcribed_at = now
    return _transition_events(old, session)


def _transition_events(old: SessionState, session: Session) -> _Events:
    changes: _Events = []
    if old is SessionState.COLLECTING and session.state is SessionState.TRANSCRIBING:
        finalized = partial(
            ev.SessionFinalized,
            entry_count=len(session.audio_entries),
            total_duration_seconds=session.total_duration_seconds,
        )
        changes.append(finalized)
    changes.append(partial(ev.StateChanged, from_state=old, to_state=session.state))
    return changes


def _id_or_none(session: Session | None) -> str | None:
    return session.session_id if session is not None else None


__all__ = ["FileSessionManager", "SessionManager"]
