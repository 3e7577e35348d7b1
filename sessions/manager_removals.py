"""The session manager's part that takes things back: a note, a session's audio, a
cancelled session, a whole session.

A mixin of :class:`~sessions.manager.FileSessionManager` (kept apart so the manager's
module stays one concern per file). What each removal changes is decided in
:mod:`sessions.removal`; this part runs it under the session's lock and publishes its events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from functools import partial
from typing import TYPE_CHECKING

from sessions import events as ev
from sessions import removal
from sessions.errors import InvalidStateError
from sessions.folder import SessionFolder
from sessions.models import Session, SessionState
from sessions.reading import SessionReader
from sessions.storage import SessionStorage
from sessions.write_queue import WriteQueue

if TYPE_CHECKING:
    from sessions.write_queue import Change as _Change
    from sessions.write_queue import Events as _Events


class SessionRemovals:
    """The contract's removals, over the manager's storage, write queue and ``_mutate``."""

    storage: SessionStorage
    _writes: WriteQueue
    _reader: SessionReader
    _retired_ids: set[str]

    if TYPE_CHECKING:

        def folder(self, session_id: str) -> SessionFolder: ...

        async def _mutate(self, session_id: str, change: _Change) -> Session: ...

        async def _publish(self, session: Session, changes: _Events) -> None: ...

    async def remove_entry(self, session_id: str, sequence: int) -> Session:
        """Remove note ``sequence`` of a COLLECTING session: its audio file, its transcript
        files (if any) and its entry. If it held the last number handed out, the next note
        gets that number again. InvalidStateError unless COLLECTING; EntryNotFoundError for
        no such note. Publishes :class:`~sessions.events.EntryRemoved`."""
        return await self._mutate(
            session_id, removal.entry_removal(self.folder(session_id), sequence)
        )

    async def cancel_session(self, session_id: str) -> Session:
        """Discard a COLLECTING session: its audio files and transcripts (texts and timed
        segments of notes transcribed live) are deleted, an error entry with code
        ``cancelled`` is added and it moves to ERROR (InvalidStateError from any other
        state). Publishes AudioRemoved, ErrorAdded, StateChanged and SessionCancelled."""
        return await self._mutate(session_id, removal.cancellation(self.folder(session_id)))

    async def remove_audio(self, session_id: str) -> Session:
        """Delete the audio files of a TRANSCRIBED, PROCESSED or ERROR session and record
        when (``audio_removed_at``); its transcripts stay. InvalidStateError in any other
        state, so a session whose audio is gone is never transcribed again. Publishes
        :class:`~sessions.events.AudioRemoved` (not again when there was nothing left)."""
        return await self._mutate(session_id, removal.audio_removal(self.folder(session_id)))

    async def delete_session(
        self, session_id: str, *, unless_in: Collection[SessionState] = ()
    ) -> None:
        """Delete the session's folder and everything in it, whatever its state; with
        ``unless_in``, InvalidStateError (nothing deleted) when it is in one of those
        states, checked in the same locked step as the deletion.

        SessionNotFoundError if there is no such session; CorruptSessionError if its
        metadata cannot be read (its chat is unknown). The folder is first renamed out of
        the way in one atomic step, so a crash leaves the whole session or nothing that
        looks like one (:meth:`remove_leftovers` finishes the job). Publishes
        :class:`~sessions.events.SessionDeleted`.
        """
        self.storage.session_path(session_id)  # malformed id -> SessionNotFoundError
        async with self._writes.exclusive(session_id):  # no write of it is under way
            session = await asyncio.to_thread(self._delete_sync, session_id, unless_in)
        await self._publish(session, [partial(ev.SessionDeleted, state=session.state)])

    def _delete_sync(self, session_id: str, unless_in: Collection[SessionState]) -> Session:
        with self.storage.lock(session_id):
            session = self._reader.load_required(session_id)
            if session.state in unless_in:
                raise InvalidStateError(f"session {session_id} is {session.state}; kept")
            self.storage.delete(session_id)
            self._retired_ids.add(session_id)
        return session


__all__ = ["SessionRemovals"]
