"""Full-text search over a chat's transcripts: an SQLite FTS5 index beside the sessions.

The index is never the source of truth: it is built from the session folders, updated as
sessions are transcribed or deleted (through the manager's events), checked against the
folders at every start, and rebuilt from them (in the background, beside the live file)
when its file is missing, corrupt or of an older schema (``PRAGMA user_version``). The
chats' settings, which nothing can rebuild, are kept apart (:mod:`library.chat_settings_store`).

Every SQLite call runs on one worker thread that owns the one connection. A single
long-lived connection keeps searches fast (no reopening, a warm page cache), serialises the
writes of this process without "database is locked" retries, and satisfies ``sqlite3``'s
rule that a connection stays on the thread that made it; the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from library.chat_settings_store import SqliteChatSettings, chat_settings_path
from library.db import LibraryDatabase, Note, stamp
from library.files import LibraryError, LibraryRebuildingError
from library.query import Fragment, clean_text, fragments, match_expression
from library.upkeep import (
    RETRY_FIRST_SECONDS,
    SCRUB_QUIET_SECONDS,
    IndexUpkeep,
)
from sessions.chat_settings import ChatSettings
from sessions.contract import SessionManager
from sessions.events import NotesChanged, SessionCancelled, SessionDeleted, StateChanged
from sessions.models import Session, SessionState, TranscriptionStatus
from sessions.storage import LIBRARY_DIR

LIBRARY_FILE = "library.sqlite3"
MAX_HITS = 50
_T = TypeVar("_T")
_log = structlog.get_logger("library.index")

# A session is searchable once it reached TRANSCRIBED, whatever happened to it after.
_SEARCHABLE_STATES = (
    SessionState.TRANSCRIBED,
    SessionState.PROCESSING,
    SessionState.PROCESSED,
    SessionState.ERROR,
)


WRITTEN_NOTES_SEQUENCE = 0
"""The sequence under which a session's written notes (summary, clean text...) are indexed,
all together: the voice notes' own sequences start at 1."""


class SearchHit(BaseModel):
    """One note that matched a search. ``score``: higher is better (FTS5's bm25, negated).
    ``sequence`` is :data:`WRITTEN_NOTES_SEQUENCE` for the session's written notes."""

    session_id: str
    sequence: int
    score: float
    fragments: list[Fragment]

    @property
    def is_written_note(self) -> bool:
        """Whether the match is in the session's written notes, not a voice note's words."""
        return self.sequence == WRITTEN_NOTES_SEQUENCE


def library_path(sessions_dir: Path) -> Path:
    """Where the index of the sessions under ``sessions_dir`` is kept."""
    return sessions_dir / LIBRARY_DIR / LIBRARY_FILE


class SessionLibrary(IndexUpkeep):
    """The search index of the sessions of one :class:`SessionManager`, and (in a file of
    their own beside it, :attr:`chat_settings`) the chats' settings."""

    def __init__(
        self,
        path: Path,
        manager: SessionManager,
        *,
        scrub_delay: float = SCRUB_QUIET_SECONDS,
        retry_seconds: float = RETRY_FIRST_SECONDS,
    ) -> None:
        self.path = path
        self._manager = manager
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="session-library")
        self._db = LibraryDatabase(path)  # used on the executor's thread only
        self.chat_settings = SqliteChatSettings(chat_settings_path(path.parent), path)
        self._writing = asyncio.Lock()  # index updates in the order they were asked for
        self._rebuilding = asyncio.Lock()  # one rebuild at a time
        # Sessions asked to be indexed during a rebuild: a change its catch-up cannot see
        # (a chat's move keeps the transcription stamp) is indexed right after it.
        self._deferred: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._removals: list[tuple[str, asyncio.Future[None]]] = []  # removed together
        self._rebuild_reason: str | None = None  # set while the index is being rebuilt
        self._scrub_delay = scrub_delay
        self._scrub_waiting = False
        self._removed_at = 0.0
        self._retry_seconds = retry_seconds
        self._closing = asyncio.Event()
        self._cancel = threading.Event()  # stops a rebuild under way (on closing)
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------

    async def sync(self, skip: Collection[str] = ()) -> tuple[int, int]:
        """Index the searchable sessions the index lacks (or holds in an older form) and
        drop those it has but the folders no longer do; returns how many of each. A
        session that cannot be indexed is skipped and logged, as are those in ``skip``."""
        removed_any = False
        async with self._writing:
            sessions = await self._searchable_sessions()
            indexed = await self._call(self._db.indexed)
            missing = [
                s
                for s in sessions
                if indexed.get(s.session_id) != stamp(s) and s.session_id not in skip
            ]
            gone = indexed.keys() - {s.session_id for s in sessions}
            for session in missing:
                try:
                    await self._index_unlocked(session)
                except LibraryError as exc:
                    if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                        raise
                    _log.warning(
                        "library_session_skipped", session_id=session.session_id, error=str(exc)
                    )
            for session_id in gone:
                removed_any |= await self._call(self._db.replace, session_id, None)
        if removed_any:
            self._scrub_soon()
        return len(missing), len(gone)

    def attach(self) -> None:
        """Follow the manager's events: a session that reaches TRANSCRIBED is indexed, a
        deleted or cancelled one leaves the index. The work runs in tasks of its own (see
        wait_idle)."""
        if self._unsubscribe:
            return
        bus = self._manager.events
        self._unsubscribe = [
            bus.subscribe(self._on_state_changed, StateChanged),
            bus.subscribe(self._on_deleted, SessionDeleted),
            bus.subscribe(self._on_deleted, SessionCancelled),
            bus.subscribe(self._on_notes_changed, NotesChanged),
        ]

    def detach(self) -> None:
        """Stop following the manager's events."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    async def wait_idle(self) -> None:
        """Wait until the work started so far (index updates, opening, a rebuild, the
        scrub after removals) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Detach, stop a rebuild under way (the live file stays as it was), finish the
        updates and the scrub owed, and close the files (once: it cannot be opened again)."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._cancel.set()
        self.detach()
        await self.wait_idle()
        self._closed = True
        with contextlib.suppress(LibraryError):
            await self._call(self._db.close)
        await self.chat_settings.close()
        self._executor.shutdown(wait=False)

    # -- updates ---------------------------------------------------------------------------

    async def index_session(self, session_id: str) -> None:
        """(Re)index one session's notes if it reached TRANSCRIBED; a session that no
        longer exists leaves the index. During a rebuild, nothing: the rebuild catches up."""
        async with self._writing:
            if self.rebuilding:
                self._deferred.add(session_id)
                return
            session = await self._manager.get_session(session_id)
            if session is None:
                removed = await self._call(self._db.replace, session_id, None)
                if removed:
                    self._scrub_soon()
            elif session.transcribed_at is not None:
                await self._index_unlocked(session)

    async def remove_session(self, session_id: str) -> None:
        """Remove a session's notes from the index (nothing if it had none). Removals that
        queue up meanwhile are done together, in one transaction. Their words leave the
        files with the next scrub, a moment later (one for many removals): a removal's own
        cost does not grow with the index. During a rebuild, nothing: the new file is
        caught up with the folders before it is used."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._removals.append((session_id, done))
        async with self._writing:
            batch, self._removals = self._removals, []
            if batch:
                await self._remove_batch(batch)
        await done

    async def _remove_batch(self, batch: list[tuple[str, asyncio.Future[None]]]) -> None:
        removed = False
        failure: LibraryError | None = None
        if not self.rebuilding:
            try:
                removed = await self._call(self._db.remove, [sid for sid, _ in batch])
            except LibraryError as exc:
                failure = exc
        for _, done in batch:
            if done.done():
                continue
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)
        if removed:
            self._scrub_soon()

    # -- search ----------------------------------------------------------------------------

    async def search(
        self, chat_id: int, query: str, *, limit: int = 5, offset: int = 0
    ) -> list[SearchHit]:
        """The notes of chat ``chat_id`` that contain every word of ``query`` (the last one
        also as the start of a word), best matches first. Whatever ``query`` holds, it is
        read as words only: it never raises for its syntax; without words, no hits.
        LibraryRebuildingError while the index is rebuilt, LibraryError when it failed."""
        if self.rebuilding:
            raise LibraryRebuildingError("the search index is being rebuilt")
        expression = match_expression(query)
        if expression is None or limit <= 0:
            return []
        rows = await self._call(
            self._db.search, expression, chat_id, min(limit, MAX_HITS), max(offset, 0)
        )
        return [
            SearchHit(session_id=sid, sequence=seq, score=-rank, fragments=fragments(snippet))
            for sid, seq, rank, snippet in rows
        ]

    async def in_index(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(connection, *args)`` on the index's thread, with its connection (for
        ``/ask``'s passages and the notes' vectors, kept in the same file). Blocking work
        only; LibraryRebuildingError while the index is rebuilt, LibraryError when it failed."""
        if self.rebuilding:
            raise LibraryRebuildingError("the search index is being rebuilt")
        return await self._call(lambda: function(self._db.connection(), *args))

    # -- chats' settings: the manager's ChatSettingsStore, kept apart from the index -------

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        return await self.chat_settings.load_chat_settings(chat_id)

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        await self.chat_settings.save_chat_settings(chat_id, settings)

    async def delete_chat_settings(self, chat_id: int) -> bool:
        return await self.chat_settings.delete_chat_settings(chat_id)

    # -- on the event loop -----------------------------------------------------------------

    async def _on_state_changed(self, event: StateChanged) -> None:
        if event.to_state is SessionState.TRANSCRIBED:
            self._spawn(self.index_session(event.session_id), session_id=event.session_id)

    async def _on_notes_changed(self, event: NotesChanged) -> None:
        self._spawn(self.index_session(event.session_id), session_id=event.session_id)

    async def _on_deleted(self, event: SessionDeleted | SessionCancelled) -> None:
        self._spawn(self.remove_session(event.session_id), session_id=event.session_id)

    async def _searchable_sessions(self) -> list[Session]:
        found = await self._manager.sessions_in_states(*_SEARCHABLE_STATES)
        return [s for s in found if s.transcribed_at is not None]

    async def _index_unlocked(self, session: Session) -> None:
        notes = await asyncio.to_thread(self._read_notes, session)
        await self._call(self._db.replace, session.session_id, session, notes)

    # -- blocking: files -------------------------------------------------------------------

    def _read_notes(self, session: Session) -> list[Note]:
        folder = self._manager.folder(session.session_id)
        notes = []
        for entry in session.audio_entries:
            if entry.transcription_status is not TranscriptionStatus.COMPLETED:
                continue
            try:
                text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
            except (OSError, UnicodeDecodeError) as exc:
                # An index is never worth failing for: this note is not searchable.
                _log.warning(
                    "library_note_unreadable",
                    session_id=session.session_id,
                    sequence=entry.sequence,
                    error=repr(exc),
                )
                continue
            if text:
                notes.append(Note(entry.sequence, clean_text(text)))
        written = self._read_written_notes(session)
        if written:
            notes.append(Note(WRITTEN_NOTES_SEQUENCE, clean_text(written)))
        return notes

    def _read_written_notes(self, session: Session) -> str:
        """The session's written notes, one after the other ("" when it has none)."""
        folder = self._manager.folder(session.session_id)
        try:
            texts = [folder.read_note(key) for key in folder.note_keys()]
        except (OSError, UnicodeDecodeError) as exc:
            _log.warning(
                "library_written_notes_unreadable", session_id=session.session_id, error=repr(exc)
            )
            return ""
        return "\n\n".join(t.strip() for t in texts if t and t.strip())


__all__ = [
    "WRITTEN_NOTES_SEQUENCE",
    "Fragment",
    "LibraryError",
    "LibraryRebuildingError",
    "SearchHit",
    "SessionLibrary",
    "library_path",
]
