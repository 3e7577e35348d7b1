"""The search index's SQLite database: its tables, and every statement run on it.

Blocking, and not thread-safe: :class:`~sessions.library.SessionLibrary` makes one and
uses it from its one worker thread only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sessions.errors import SessionError
from sessions.layout import FILE_MODE
from sessions.library_query import MARK_END, MARK_START
from sessions.models import Session
from sessions.storage import make_dir

SCHEMA_VERSION = 2
"""Raise it with any change to the tables: an index of another version is rebuilt (except
the steps in ``_MIGRATIONS``, done in place). 2: chats' settings."""
SNIPPET_TOKENS = 12
"""Words around the matches in a hit's snippet."""
RANKED_WINDOW = 2000
"""A query matching more of a chat's notes than this ranks only the newest this many of
them: bm25 costs about 5 µs a note, and a word found in nearly every note ("the") would
otherwise cost half a second over 100,000 notes. Rows are numbered in the order notes were
indexed, which is the order sessions were transcribed."""

# Not an index: chats' settings (sessions.chat_settings) are kept nowhere else, so a rebuild
# carries them over into the new file. ``settings``: the ChatSettings model as JSON.
_CHAT_SETTINGS = (
    "CREATE TABLE chat_settings (chat_id INTEGER PRIMARY KEY, settings TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)"
)
# Schema steps done in place on an older file (from version -> its statements), so an
# existing index is not rebuilt for a table it does not need to change.
_MIGRATIONS: dict[int, tuple[str, ...]] = {1: (_CHAT_SETTINGS,)}
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
    _CHAT_SETTINGS,
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


@dataclass(frozen=True)
class Note:
    """One note's text, as indexed."""

    sequence: int
    text: str


class LibraryDatabase:
    """The index file at ``path`` and its one connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def open(self) -> str | None:
        """Open the file; the reason it must be rebuilt, or None when it is fine."""
        make_dir(self.path.parent)
        if not self.path.exists():
            return "missing"
        db = None
        try:
            db = self._connect()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version in _MIGRATIONS:
                _migrate(db, version)
                version = SCHEMA_VERSION
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
            # Deleted rows are overwritten with zeros: a forgotten transcript's words must
            # not stay readable in freed pages of the file.
            db.execute("PRAGMA secure_delete = ON")
        except BaseException:
            db.close()
            raise
        return db

    def rebuild(
        self, sessions: Iterable[Session], read_notes: Callable[[Session], list[Note]]
    ) -> int:
        """Replace the file by a fresh index of ``sessions``, filled in one transaction
        that also sets the schema version; returns the notes indexed. Chats' settings are
        carried over from the old file as far as it can still be read."""
        kept = self._settings_to_keep()
        self.close()
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
                notes = read_notes(session)
                _insert(db, session, notes)
                count += len(notes)
            db.executemany("INSERT INTO chat_settings VALUES (?, ?, ?)", kept)
            db.execute("INSERT INTO notes_text (notes_text) VALUES ('optimize')")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return count

    def replace(self, session_id: str, session: Session | None, notes: Iterable[Note] = ()) -> None:
        """Replace what the index holds of ``session_id`` by ``session``'s ``notes``
        (nothing, when ``session`` is None: then no word of it stays anywhere in the files)."""
        db = self._require_db()
        with _transaction(db):
            ids = db.execute("SELECT id FROM notes WHERE session_id = ?", (session_id,))
            removed = ids.fetchall()
            db.executemany("DELETE FROM notes_text WHERE rowid = ?", removed)
            db.execute("DELETE FROM notes WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            if session is not None:
                _insert(db, session, notes)
        if session is None and removed:
            self._scrub()

    def _scrub(self) -> None:
        # FTS5 keeps deleted words in its older index segments until they are merged, and
        # the WAL holds the old pages until a checkpoint: merge, then copy everything back
        # into the (secure-deleting) main file and empty the WAL.
        db = self._require_db()
        db.execute("INSERT INTO notes_text (notes_text) VALUES ('optimize')")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def search(
        self, expression: str, chat_id: int, limit: int, offset: int
    ) -> list[tuple[str, int, float, str]]:
        """(session id, sequence, bm25 rank, marked snippet) of the chat's best matches."""
        db = self._require_db()
        oldest = db.execute(_WINDOW, (expression, chat_id, RANKED_WINDOW - 1)).fetchone()
        lowest_rowid = oldest[0] if oldest is not None else 0
        snippet = (MARK_START, MARK_END, SNIPPET_TOKENS)
        rows = db.execute(_SEARCH, (*snippet, expression, lowest_rowid, chat_id, limit, offset))
        return [(str(r[0]), int(r[1]), float(r[2]), str(r[3])) for r in rows]

    def _settings_to_keep(self) -> list[tuple[int, str, str]]:
        """The chat_settings rows of the current file, if it has that table and it can be
        read (a damaged file may lose them: they are logged by the caller's count)."""
        db = self._db
        opened_here = False
        try:
            if db is None:
                if not self.path.exists():
                    return []
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                opened_here = True
            rows = db.execute("SELECT chat_id, settings, updated_at FROM chat_settings")
            return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
        except sqlite3.DatabaseError:
            return []
        finally:
            if opened_here and db is not None:
                db.close()

    # -- chats' settings: the JSON text of each chat's ChatSettings ----------------------

    def chat_settings(self, chat_id: int) -> str | None:
        row = self._require_db().execute(
            "SELECT settings FROM chat_settings WHERE chat_id = ?", (chat_id,)
        )
        found = row.fetchone()
        return None if found is None else str(found[0])

    def save_chat_settings(self, chat_id: int, settings: str | None, when: str) -> bool:
        """Store the chat's settings (None: remove them); whether a row was removed."""
        db = self._require_db()
        if settings is not None:
            db.execute(
                "INSERT INTO chat_settings (chat_id, settings, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET settings = excluded.settings,"
                " updated_at = excluded.updated_at",
                (chat_id, settings, when),
            )
            return False
        removed = db.execute("DELETE FROM chat_settings WHERE chat_id = ?", (chat_id,)).rowcount
        if removed:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no copy left in the WAL
        return bool(removed)

    def chat_settings_count(self) -> int:
        query = "SELECT count(*) FROM chat_settings"
        return int(self._require_db().execute(query).fetchone()[0])

    def indexed(self) -> dict[str, str]:
        """Each indexed session's id, with when it reached TRANSCRIBED."""
        query = "SELECT session_id, transcribed_at FROM sessions"
        return {str(row[0]): str(row[1]) for row in self._require_db().execute(query)}

    def count(self) -> int:
        return int(self._require_db().execute("SELECT count(*) FROM notes").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise LibraryError("the search index is not open")
        return self._db


def stamp(session: Session) -> str:
    """When the session reached TRANSCRIBED, as the index records it."""
    return session.transcribed_at.isoformat() if session.transcribed_at else ""


def _insert(db: sqlite3.Connection, session: Session, notes: Iterable[Note]) -> None:
    session_id, chat_id = session.session_id, session.chat_id
    db.execute(
        "INSERT INTO sessions (session_id, chat_id, transcribed_at) VALUES (?, ?, ?)",
        (session_id, chat_id, stamp(session)),
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


def _migrate(db: sqlite3.Connection, version: int) -> None:
    with _transaction(db):
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = ["SCHEMA_VERSION", "LibraryDatabase", "LibraryError", "Note", "stamp"]
