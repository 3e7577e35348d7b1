"""The async session manager: the contract's operations over a :class:`SessionStorage`.

Each operation that changes a session is a read-modify-write under the session's lock,
batched with the others queued for it meanwhile (group commit, :mod:`sessions.write_queue`).
Events are published after the change is durable.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import structlog

from sessions import events as ev
from sessions.chat_move import ChatMove, ChatMoves, move_chat_settings
from sessions.chat_settings import ChatSettingsStore
from sessions.chat_settings_manager import ChatSettingsKeeper
from sessions.config import SessionConfig
from sessions.contract import SessionManager
from sessions.errors import (
    EntryNotFoundError,
    InvalidStateError,
    SessionNotFoundError,
)
from sessions.events import EventBus
from sessions.folder import SessionFolder
from sessions.ids import base_id, candidate_ids
from sessions.layout import is_plain_filename
from sessions.locks import KeyedLocks
from sessions.manager_marks import SessionMarks
from sessions.manager_removals import SessionRemovals
from sessions.manager_speakers import SessionSpeakers
from sessions.models import (
    AudioEntry,
    ErrorEntry,
    Session,
    SessionState,
    TranscriptionStatus,
    utc_now,
)
from sessions.reading import SessionReader
from sessions.recording import audio_addition
from sessions.storage import SessionStorage
from sessions.transitions import apply_transition, transition_events
from sessions.write_queue import Change as _Change
from sessions.write_queue import Events as _Events
from sessions.write_queue import WriteQueue

_log = structlog.get_logger("sessions.manager")

_FINISHED = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)


class FileSessionManager(
    ChatSettingsKeeper, SessionMarks, SessionRemovals, SessionSpeakers, SessionManager
):
    """:class:`SessionManager` over a :class:`SessionStorage`, safe across tasks and processes.

    Its parts by concern: chats' settings (:mod:`sessions.chat_settings_manager`),
    delivery marks and reserved numbers (:mod:`sessions.manager_marks`), removals
    (:mod:`sessions.manager_removals`); the rest (opening, transitions, recording, chat
    moves) is here."""

    def __init__(
        self,
        storage: SessionStorage,
        config: SessionConfig | None = None,
        events: EventBus | None = None,
        *,
        chat_settings: ChatSettingsStore | None = None,
    ) -> None:
        self.storage = storage
        self.config = config or SessionConfig()
        self.events = events or EventBus()
        # In memory until the bot hands over the library's database (use_chat_settings).
        self._keep_chat_settings(chat_settings)
        self._locks = KeyedLocks()
        self._writes = WriteQueue(storage, self._locks)
        self._reader = SessionReader(storage)
        self._moves = ChatMoves(storage, self._reader)
        # Ids deleted in their own second: an id names its second, so a session opened in
        # that second would get it again and old buttons and jobs would reach the new one.
        self._retired_ids: set[str] = set()

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
            return await asyncio.to_thread(self._reader.active, chat_id)
        return await asyncio.to_thread(self._reader.any_active)

    async def list_sessions(
        self, limit: int = 10, *, chat_id: int | None = None, offset: int = 0
    ) -> list[Session]:
        """Recent sessions, newest first (with ``chat_id``, only that chat's), skipping the
        ``offset`` newest (for paging)."""
        return await asyncio.to_thread(self._reader.recent, limit, chat_id, offset)

    async def sessions_in_states(self, *states: SessionState) -> list[Session]:
        """Every readable session in one of ``states``, oldest first (to resume work)."""
        return await asyncio.to_thread(self._reader.in_states, frozenset(states))

    async def remove_leftovers(self) -> list[Path]:
        """At start, before anything writes: delete partial downloads and temporary files
        that writes cut off by a crash left in the session folders, and what deletions left
        in the trash; returns them (logged). What cannot be removed is logged and tried
        again next time: the bot starts anyway."""
        return await self._clean(self.storage.remove_leftovers)

    async def empty_trash(self) -> list[Path]:
        """Try again to delete what deletions could not remove at the time (a read-only
        folder in a session); returns what went. Safe at any time; never raises for the
        disk: what still cannot be removed is logged and waits for the next try."""
        return await self._clean(self.storage.empty_trash)

    async def _clean(self, remove: Callable[[], list[Path]]) -> list[Path]:
        try:
            removed = await asyncio.to_thread(remove)
        except OSError as exc:  # the sessions folder itself unreadable: next time, then
            _log.warning("leftovers_not_removed", error=str(exc))
            return []
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
            return apply_transition(session, new_state)

        return await self._mutate(session_id, change)

    # -- audio -------------------------------------------------------------------------------

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

        return await self._mutate(session_id, audio_addition(entry, max_duration))

    async def update_transcription_status(
        self,
        session_id: str,
        sequence: int,
        status: TranscriptionStatus,
        transcript_filename: str | None = None,
        *,
        error: str | None = None,
        note: AudioEntry | None = None,
    ) -> Session:
        """Set one entry's status while the session is COLLECTING (a note transcribed
        live) or TRANSCRIBING; InvalidStateError in any other state.

        COMPLETED needs a transcript file name; FAILED records ``error`` on the entry.
        With ``note``: EntryNotFoundError unless the entry is still that note, checked in
        the same write (so no undo and new note can come between the check and the change).
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
            if note is not None and not entry.same_note(note):
                raise EntryNotFoundError(f"note {sequence} of {session_id} is another note now")
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

    # -- a chat that got a new id ------------------------------------------------------------

    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> ChatMove:
        """Sessions, open session and settings of ``old_chat_id`` go to ``new_chat_id``
        (see :mod:`sessions.chat_move`)."""
        async with self._locks.hold(f"chat:{old_chat_id}"):
            record, finalized = await asyncio.to_thread(self._moves.move, old_chat_id, new_chat_id)
        if finalized is not None:
            await self._publish(finalized, transition_events(SessionState.COLLECTING, finalized))
        await move_chat_settings(self, old_chat_id, new_chat_id)
        return record

    async def chat_moves(self) -> list[ChatMove]:
        return await asyncio.to_thread(self._moves.all)

    async def finish_chat_move(self, old_chat_id: int) -> None:
        await asyncio.to_thread(self._moves.finish, old_chat_id)

    # -- internals ---------------------------------------------------------------------------

    async def _mutate(self, session_id: str, change: _Change) -> Session:
        """Apply ``change`` durably, then publish its events; returns the session as saved
        (do not modify it)."""
        self.storage.session_path(session_id)  # malformed id -> SessionNotFoundError
        session, changes = await self._writes.apply(session_id, change)
        await self._publish(session, changes)
        return session

    async def _open_session(
        self, chat_id: int, *, replace_active: bool, keep_empty: bool = False
    ) -> Session:
        async with self._locks.hold(f"chat:{chat_id}"):
            new, finalized, created = await asyncio.to_thread(
                self._open_sync, chat_id, replace_active, keep_empty
            )
        if finalized is not None:
            await self._publish(finalized, transition_events(SessionState.COLLECTING, finalized))
        if created:
            await self._publish(
                new, [partial(ev.SessionCreated, auto_finalized=_id_or_none(finalized))]
            )
        return new

    def _open_sync(
        self, chat_id: int, replace_active: bool, keep_empty: bool
    ) -> tuple[Session, Session | None, bool]:
        with self.storage.chat_lock(chat_id):
            # Read under the lock a move takes too: no session opens under an id that moved.
            if (moved_to := self._moves.destination(chat_id)) is not None:
                return self._open_sync(moved_to, replace_active, keep_empty)
            active = self._reader.active(chat_id)
            if active is not None and (
                not replace_active or (keep_empty and not active.audio_entries)
            ):
                return active, None, False
            finalized = None
            if active is not None:
                with self.storage.lock(active.session_id):
                    current = self._reader.load_required(active.session_id)
                    if current.state is SessionState.COLLECTING:
                        apply_transition(current, SessionState.TRANSCRIBING)
                        current.updated_at = utc_now()
                        self.storage.save(current)
                        finalized = current
            new = self._create_sync(chat_id)
            self.storage.write_active_marker(chat_id, new.session_id)
            return new, finalized, True

    def _create_sync(self, chat_id: int) -> Session:
        now = utc_now()
        current = base_id(now)
        self._retired_ids = {i for i in self._retired_ids if i >= current}  # only this second's
        for session_id in candidate_ids(now):
            if session_id in self._retired_ids:
                continue
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

    async def _publish(self, session: Session, changes: _Events) -> None:
        for make in changes:
            await self.events.publish(make(session_id=session.session_id, chat_id=session.chat_id))


def _id_or_none(session: Session | None) -> str | None:
    return session.session_id if session is not None else None


__all__ = ["FileSessionManager", "SessionManager"]
