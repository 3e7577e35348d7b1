"""Full-text search over a chat's transcripts: an SQLite FTS5 index beside the sessions.

The index is never the source of truth: it is built from the session folders, updated as
sessions are transcribed or deleted (through the manager's events), checked against the
folders at every start, and rebuilt from them when its file is missing, unreadable or of
an older schema (``PRAGMA user_version``).

Every SQLite call runs on one worker thread that owns the one connection. A single
long-lived connection keeps searches fast (no reopening, a warm page cache), serialises the
writes of this process without "database is locked" retries, and satisfies ``sqlite3``'s
rule that a connection stays on the thread that made it; the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from sessions.chat_settings import ChatSettings
from sessions.contract import SessionManager
from sessions.events import SessionCancelled, SessionDeleted, StateChanged
from sessions.library_db import LibraryDatabase, LibraryError, Note, stamp
from sessions.library_query import Fragment, clean_text, fragments, match_expression
from sessions.models import Session, SessionState, TranscriptionStatus
from sessions.redaction import error_kinds
from sessions.storage import LIBRARY_DIR

LIBRARY_FILE = "library.sqlite3"
MAX_HITS = 50

_T = TypeVar("_T")
_log = structlog.get_logger("sessions.library")

# A session is searchable once it reached TRANSCRIBED, whatever happened to it after.
_SEARCHABLE_STATES = (
    SessionState.TRANSCRIBED,
    SessionState.PROCESSING,
    SessionState.PROCESSED,
    SessionState.ERROR,
)


class SearchHit(BaseModel):
    """One note that matched a search. ``score``: higher is better (FTS5's bm25, negated)."""

    session_id: str
    sequence: int
    score: float
    fragments: list[Fragment]


def library_path(sessions_dir: Path) -> Path:
    """Where the index of the sessions under ``sessions_dir`` is kept."""
    return sessions_dir / LIBRARY_DIR / LIBRARY_FILE


class SessionLibrary:
    """The search index of the sessions of one :class:`SessionManager`."""

    def __init__(self, path: Path, manager: SessionManager) -> None:
        self.path = path
        self._manager = manager
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="session-library")
        self._db = LibraryDatabase(path)  # used on the executor's thread only
        self._writing = asyncio.Lock()  # index updates in the order they were asked for
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the index. When its file is missing, unreadable or of another schema
        version, it is rebuilt from the session folders before this returns (about a
        minute for 10,000 sessions on a slow disk). Otherwise it is usable at once, and a
        task of its own brings it in line with the folders (sessions transcribed or deleted
        while nothing was listening; :meth:`wait_idle` waits for it). Both are logged, with
        the time they took."""
        started = time.perf_counter()
        problem = await self._call(self._db.open)
        if problem is not None:
            await self.rebuild(problem)
        else:
            self._spawn(self._catch_up(started), during="open")

    async def _catch_up(self, started: float) -> None:
        added, removed = await self.sync()
        notes = await self._call(self._db.count)
        _log.info(
            "library_opened",
            notes=notes,
            sessions_added=added,
            sessions_removed=removed,
            seconds=round(time.perf_counter() - started, 3),
        )

    async def rebuild(self, reason: str = "asked for") -> int:
        """Recreate the index from the session folders; returns the notes indexed.

        The file is replaced by a fresh one filled in one transaction that also sets the
        schema version, so a crash part of the way leaves a file the next start rebuilds.
        """
        started = time.perf_counter()
        async with self._writing:
            sessions = await self._searchable_sessions()
            notes = await self._call(self._db.rebuild, sessions, self._read_notes)
            chats = await self._call(self._db.chat_settings_count)
        _log.info(
            "library_rebuilt",
            reason=reason,
            sessions=len(sessions),
            notes=notes,
            chat_settings_kept=chats,
            seconds=round(time.perf_counter() - started, 3),
        )
        return notes

    async def sync(self) -> tuple[int, int]:
        """Index the searchable sessions the index lacks (or holds in an older form) and
        drop those it has but the folders no longer do; returns how many of each."""
        async with self._writing:
            sessions = await self._searchable_sessions()
            indexed = await self._call(self._db.indexed)
            missing = [s for s in sessions if indexed.get(s.session_id) != stamp(s)]
            gone = indexed.keys() - {s.session_id for s in sessions}
            for session in missing:
                await self._index_unlocked(session)
            for session_id in gone:
                await self._call(self._db.replace, session_id, None)
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
        ]

    def detach(self) -> None:
        """Stop following the manager's events."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    async def wait_idle(self) -> None:
        """Wait until the index updates started so far (by events, by opening) are done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Detach, finish the updates under way and close the database (once: the library
        cannot be opened again)."""
        if self._closed:
            return
        self._closed = True
        self.detach()
        await self.wait_idle()
        with contextlib.suppress(LibraryError):
            await self._call(self._db.close)
        self._executor.shutdown(wait=False)

    # -- updates ---------------------------------------------------------------------------

    async def index_session(self, session_id: str) -> None:
        """(Re)index one session's notes if it reached TRANSCRIBED; a session that no
        longer exists leaves the index."""
        async with self._writing:
            session = await self._manager.get_session(session_id)
            if session is None:
                await self._call(self._db.replace, session_id, None)
            elif session.transcribed_at is not None:
                await self._index_unlocked(session)

    async def remove_session(self, session_id: str) -> None:
        """Remove a session's notes from the index (nothing if it had none)."""
        async with self._writing:
            await self._call(self._db.replace, session_id, None)

    # -- search ----------------------------------------------------------------------------

    async def search(
        self, chat_id: int, query: str, *, limit: int = 5, offset: int = 0
    ) -> list[SearchHit]:
        """The notes of chat ``chat_id`` that contain every word of ``query`` (the last one
        also as the start of a word), best matches first. Whatever ``query`` holds, it is
        read as words only: it never raises for its syntax; without words, no hits."""
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

    # -- chats' settings (the manager's ChatSettingsStore) ----------------------------------

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        """The chat's stored settings; None when it has none, or when what is stored is
        not valid settings (logged; the chat is then served with the defaults)."""
        stored = await self._call(self._db.chat_settings, chat_id)
        if stored is None:
            return None
        try:
            return ChatSettings.model_validate_json(stored)
        except ValueError as exc:
            # Not the message: it quotes the row, vocabulary and all.
            _log.warning("chat_settings_unreadable", chat_id=chat_id, error=error_kinds(exc))
            return None

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        """Store the chat's settings; default settings remove its row."""
        text = None if settings.is_default else settings.model_dump_json()
        when = datetime.now(UTC).isoformat()
        async with self._writing:
            await self._call(self._db.save_chat_settings, chat_id, text, when)

    async def delete_chat_settings(self, chat_id: int) -> bool:
        """Remove the chat's settings for good (no copy stays in the files)."""
        when = datetime.now(UTC).isoformat()
        async with self._writing:
            return await self._call(self._db.save_chat_settings, chat_id, None, when)

    # -- on the event loop -----------------------------------------------------------------

    async def _on_state_changed(self, event: StateChanged) -> None:
        if event.to_state is SessionState.TRANSCRIBED:
            self._spawn(self.index_session(event.session_id), session_id=event.session_id)

    async def _on_deleted(self, event: SessionDeleted | SessionCancelled) -> None:
        self._spawn(self.remove_session(event.session_id), session_id=event.session_id)

    def _spawn(self, work: Coroutine[Any, Any, None], **context: str) -> None:
        task = asyncio.create_task(self._logged(work, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, None], context: dict[str, str]) -> None:
        try:
            await work
        except Exception:  # the index is behind; the next start's sync catches up
            _log.exception("library_update_failed", **context)

    async def _searchable_sessions(self) -> list[Session]:
        found = await self._manager.sessions_in_states(*_SEARCHABLE_STATES)
        return [s for s in found if s.transcribed_at is not None]

    async def _index_unlocked(self, session: Session) -> None:
        notes = await asyncio.to_thread(self._read_notes, session)
        await self._call(self._db.replace, session.session_id, session, notes)

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed and function != self._db.close:
            raise LibraryError("the search index is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, partial(function, *args))
        except sqlite3.Error as exc:
            raise LibraryError(f"the search index failed: {exc}") from exc

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
        return notes


__all__ = ["Fragment", "LibraryError", "SearchHit", "SessionLibrary", "library_path"]
