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
import os
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from sessions.contract import SessionManager
from sessions.errors import SessionError
from sessions.events import SessionDeleted, StateChanged
from sessions.layout import FILE_MODE
from sessions.library_query import (
    MARK_END,
    MARK_START,
    Fragment,
    clean_text,
    fragments,
    match_expression,
)
from sessions.models import Session, SessionState, TranscriptionStatus
from sessions.storage import LIBRARY_DIR, make_dir

SCHEMA_VERSION = 1
"""Raise it with any change to the tables: an index of another version is rebuilt."""
LIBRARY_FILE = "library.sqlite3"
SNIPPET_TOKENS = 12
"""Words around the matches in a hit's snippet."""
MAX_HITS = 50
RANKED_WINDOW = 2000
"""A query matching more of a chat's notes than this ranks only the newest this many of
them: bm25 costs about 5 µs a note, and a word found in nearly every note ("the") would
otherwise cost half a second over 100,000 notes. Rows are numbered in the order notes were
indexed, which is the order sessions were transcribed."""

_T = TypeVar("_T")
_log = structlog.get_logger("sessions.library")

# A session is searchable once it reached TRANSCRIBED, whatever happened to it after.
_SEARCHABLE_STATES = (
    SessionState.TRANSCRIBED,
    SessionState.PROCESSING,
    SessionState.PROCESSED,
    SessionState.ERROR,
)
_SCHEMA = (
    # transcribed_at tells a session from a later one that took the id of a deleted one.
    "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, chat_id INTEGER NOT NULL,"
    " transcribed_at TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, session_id TEXT NOT NULL,"
    " chat_id INTEGER NOT NULL, sequence INTEGER NOT NULL, UNIQUE (session_id, sequence))",
    # Only the text: a chat's notes are told apart through the notes table, because bm25
    # would count a chat term's documents at every query (40 ms at 100,000 notes).
    "CREATE VIRTUAL TABLE notes_text USING fts5(text,"
    " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
)
# The rowid of the chat's RANKED_WINDOW-th newest match (no ranking: cheap), if it has that many.
_WINDOW = """
    SELECT t.rowid FROM notes_text AS t JOIN notes AS n ON n.id = t.rowid
    WHERE notes_text MATCH ? AND n.chat_id = ?
    ORDER BY t.rowid DESC LIMIT 1 OFFSET ?
"""
_SEARCH = """
    SELECT n.session_id, n.sequence, t.rank, snippet(notes_text, 0, ?, ?, '…', ?)
    FROM notes_text AS t JOIN notes AS n ON n.id = t.rowid
    WHERE notes_text MATCH ? AND t.rowid >= ? AND n.chat_id = ?
    ORDER BY t.rank LIMIT ? OFFSET ?
"""


class LibraryError(SessionError):
    """The search index cannot be used right now (it is not open, or its database failed)."""


class SearchHit(BaseModel):
    """One note that matched a search. ``score``: higher is better (FTS5's bm25, negated)."""

    session_id: str
    sequence: int
    score: float
    fragments: list[Fragment]


@dataclass(frozen=True)
class _Note:
    sequence: int
    text: str


def library_path(sessions_dir: Path) -> Path:
    """Where the index of the sessions under ``sessions_dir`` is kept."""
    return sessions_dir / LIBRARY_DIR / LIBRARY_FILE


class SessionLibrary:
    """The search index of the sessions of one :class:`SessionManager`."""

    def __init__(self, path: Path, manager: SessionManager) -> None:
        self.path = path
        self._manager = manager
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="session-library")
        self._db: sqlite3.Connection | None = None  # touched only on the executor's thread
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
        problem = await self._call(self._open_sync)
        if problem is not None:
            await self.rebuild(problem)
        else:
            self._spawn(self._catch_up(started), during="open")

    async def _catch_up(self, started: float) -> None:
        added, removed = await self.sync()
        notes = await self._call(self._count_sync)
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
            notes = await self._call(self._rebuild_sync, sessions)
        _log.info(
            "library_rebuilt",
            reason=reason,
            sessions=len(sessions),
            notes=notes,
            seconds=round(time.perf_counter() - started, 3),
        )
        return notes

    async def sync(self) -> tuple[int, int]:
        """Index the searchable sessions the index lacks (or holds in an older form) and
        drop those it has but the folders no longer do; returns how many of each."""
        async with self._writing:
            sessions = await self._searchable_sessions()
            indexed = await self._call(self._indexed_sync)
            missing = [s for s in sessions if indexed.get(s.session_id) != _stamp(s)]
            gone = indexed.keys() - {s.session_id for s in sessions}
            for session in missing:
                await self._index_unlocked(session)
            for session_id in gone:
                await self._call(self._replace_sync, session_id, None)
        return len(missing), len(gone)

    def attach(self) -> None:
        """Follow the manager's events: a session that reaches TRANSCRIBED is indexed, a
        deleted one leaves the index. The work runs in tasks of its own (see wait_idle)."""
        if self._unsubscribe:
            return
        bus = self._manager.events
        self._unsubscribe = [
            bus.subscribe(self._on_state_changed, StateChanged),
            bus.subscribe(self._on_deleted, SessionDeleted),
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
            await self._call(self._close_sync)
        self._executor.shutdown(wait=False)

    # -- updates ---------------------------------------------------------------------------

    async def index_session(self, session_id: str) -> None:
        """(Re)index one session's notes if it reached TRANSCRIBED; a session that no
        longer exists leaves the index."""
        async with self._writing:
            session = await self._manager.get_session(session_id)
            if session is None:
                await self._call(self._replace_sync, session_id, None)
            elif session.transcribed_at is not None:
                await self._index_unlocked(session)

    async def remove_session(self, session_id: str) -> None:
        """Remove a session's notes from the index (nothing if it had none)."""
        async with self._writing:
            await self._call(self._replace_sync, session_id, None)

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
            self._search_sync, expression, chat_id, min(limit, MAX_HITS), max(offset, 0)
        )
        return [
            SearchHit(session_id=sid, sequence=seq, score=-rank, fragments=fragments(snippet))
            for sid, seq, rank, snippet in rows
        ]

    # -- on the event loop -----------------------------------------------------------------

    async def _on_state_changed(self, event: StateChanged) -> None:
        if event.to_state is SessionState.TRANSCRIBED:
            self._spawn(self.index_session(event.session_id), session_id=event.session_id)

    async def _on_deleted(self, event: SessionDeleted) -> None:
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
        await self._call(self._replace_sync, session.session_id, session, notes)

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, partial(function, *args))
        except sqlite3.Error as exc:
            raise LibraryError(f"the search index failed: {exc}") from exc

    # -- blocking: files -------------------------------------------------------------------

    def _read_notes(self, session: Session) -> list[_Note]:
        folder = self._manager.folder(session.session_id)
        notes = []
        for entry in session.audio_entries:
            if entry.transcription_status is not TranscriptionStatus.COMPLETED:
                continue
            text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
            if text:
                notes.append(_Note(entry.sequence, clean_text(text)))
        return notes

    # -- blocking: on the library's thread -----------------------------------------------

    def _open_sync(self) -> str | None:
        """Open the file; the reason it must be rebuilt, or None when it is fine."""
        make_dir(self.path.parent)
        if not self.path.exists():
            return "missing"
        db = None
        try:
            db = self._connect()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.close()
                return f"schema version {version}, expected {SCHEMA_VERSION}"
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                db.close()
                return f"corrupt: {check}"
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            return f"unreadable: {exc}"
        self._db = db
        return None

    def _connect(self) -> sqlite3.Connection:
        # Created owner-only first: SQLite gives its -wal and -shm files the same mode.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
        db = sqlite3.connect(self.path, isolation_level=None)  # transactions are explicit
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")  # a lost commit would go unnoticed
        except BaseException:
            db.close()
            raise
        return db

    def _rebuild_sync(self, sessions: list[Session]) -> int:
        self._close_sync()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")
        db = self._connect()
        self._db = db
        count = 0
        with _transaction(db):
            for statement in _SCHEMA:
                db.execute(statement)
            for session in sessions:
                notes = self._read_notes(session)
                _insert(db, session, notes)
                count += len(notes)
            db.execute("INSERT INTO notes_text (notes_text) VALUES ('optimize')")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return count

    def _replace_sync(
        self, session_id: str, session: Session | None, notes: Iterable[_Note] = ()
    ) -> None:
        """Replace what the index holds of ``session_id`` by ``session``'s ``notes``
        (nothing, when ``session`` is None)."""
        db = self._require_db()
        with _transaction(db):
            ids = db.execute("SELECT id FROM notes WHERE session_id = ?", (session_id,))
            db.executemany("DELETE FROM notes_text WHERE rowid = ?", ids.fetchall())
            db.execute("DELETE FROM notes WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            if session is not None:
                _insert(db, session, notes)

    def _search_sync(
        self, expression: str, chat_id: int, limit: int, offset: int
    ) -> list[tuple[str, int, float, str]]:
        db = self._require_db()
        oldest = db.execute(_WINDOW, (expression, chat_id, RANKED_WINDOW - 1)).fetchone()
        lowest_rowid = oldest[0] if oldest is not None else 0
        snippet = (MARK_START, MARK_END, SNIPPET_TOKENS)
        rows = db.execute(_SEARCH, (*snippet, expression, lowest_rowid, chat_id, limit, offset))
        return [(str(r[0]), int(r[1]), float(r[2]), str(r[3])) for r in rows]

    def _indexed_sync(self) -> dict[str, str]:
        query = "SELECT session_id, transcribed_at FROM sessions"
        return {str(row[0]): str(row[1]) for row in self._require_db().execute(query)}

    def _count_sync(self) -> int:
        return int(self._require_db().execute("SELECT count(*) FROM notes").fetchone()[0])

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise LibraryError("the search index is not open")
        return self._db


def _stamp(session: Session) -> str:
    """When the session reached TRANSCRIBED, as the index records it."""
    return session.transcribed_at.isoformat() if session.transcribed_at else ""


def _insert(db: sqlite3.Connection, session: Session, notes: Iterable[_Note]) -> None:
    session_id, chat_id = session.session_id, session.chat_id
    db.execute(
        "INSERT INTO sessions (session_id, chat_id, transcribed_at) VALUES (?, ?, ?)",
        (session_id, chat_id, _stamp(session)),
    )
    for note in notes:
        row = db.execute(
            "INSERT INTO notes (session_id, chat_id, sequence) VALUES (?, ?, ?)",
            (session_id, chat_id, note.sequence),
        )
        db.execute(
            "INSERT INTO notes_text (rowid, text) VALUES (?, ?)",
            (row.lastrowid, note.text),
        )


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = ["Fragment", "LibraryError", "SearchHit", "SessionLibrary", "library_path"]
