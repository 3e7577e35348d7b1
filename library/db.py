"""The search index's SQLite database: its tables, and every statement run on it.

Blocking, and not thread-safe: :class:`~library.index.SessionLibrary` makes one and
uses it from its one worker thread only.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from library.files import (
    LibraryError,
    SingleConnection,
    connect,
    is_corruption,
    remove_database,
    replace_database,
    transaction,
)
from library.query import MARK_END, MARK_START
from sessions.atomic import make_dir
from sessions.layout import FILE_MODE
from sessions.models import Session

SCHEMA_VERSION = 3
"""Raise it with any change to the tables: an index of another version is rebuilt (except
the steps in ``_MIGRATIONS``, done in place). 2: chats' settings; 3: chats' settings moved
out, into a file of their own (:mod:`library.chat_settings_store`)."""
SNIPPET_TOKENS = 12
"""Words around the matches in a hit's snippet."""
RANKED_WINDOW = 2000
"""A query matching more of a chat's notes than this ranks only the newest this many of
them: bm25 costs about 5 µs a note, and a word found in nearly every note ("the") would
otherwise cost half a second over 100,000 notes. Rows are numbered in the order notes were
indexed, which is the order sessions were transcribed."""
FTS5_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 44, 0)
"""FTS5's ``secure-delete`` option (SQLite 3.44+) removes a deleted note's words from the
index's segments at once; without it they stay until the segments are merged (see scrub)."""

# Schema steps done in place on an older file (from version -> its statements), so an
# existing index is not rebuilt for a table it does not need to change. Version 2's
# chat_settings table is dropped only once the settings file holds its rows: the library
# opens that file (which copies them) before the index.
_MIGRATIONS: dict[int, tuple[str, ...]] = {1: (), 2: ("DROP TABLE IF EXISTS chat_settings",)}
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
_SECURE_DELETE = "INSERT INTO notes_text (notes_text, rank) VALUES ('secure-delete', 1)"
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


class RebuildCancelledError(Exception):
    """A rebuild was asked to stop (the library is closing): the live file is untouched."""


@dataclass(frozen=True)
class Note:
    """One note's text, as indexed."""

    sequence: int
    text: str


class LibraryDatabase(SingleConnection):
    """The index file at ``path`` and its one connection."""

    closed_message = "the search index is not open"

    def open(self) -> str | None:
        """Open the file; the reason it must be rebuilt (missing, another schema version,
        corrupt), or None when it is fine. Any other error (locked, I/O, a full disk) is
        raised: the file is kept, to be opened again later."""
        make_dir(self.path.parent)
        remove_database(self._spare)  # what a rebuild cut off left
        if not self.path.exists():
            return "missing"
        db = None
        try:
            db = connect(self.path)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if all(step in _MIGRATIONS for step in range(version, SCHEMA_VERSION)):
                _migrate(db, version)
                version = SCHEMA_VERSION
            if version != SCHEMA_VERSION:
                db.close()
                return f"schema version {version}, expected {SCHEMA_VERSION}"
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                db.close()
                return f"corrupt: {check}"
            if FTS5_SECURE_DELETE:  # an index made before the option (or the SQLite) was there
                db.execute(_SECURE_DELETE)
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            if is_corruption(exc):
                return f"corrupt: {exc}"
            raise
        self._db = db
        return None

    @property
    def _spare(self) -> Path:
        """Where a rebuild makes the new file, beside the live one."""
        return self.path.with_name(self.path.name + ".rebuild")

    def rebuild(
        self,
        sessions: Iterable[Session],
        read_notes: Callable[[Session], list[Note]],
        cancelled: threading.Event,
    ) -> tuple[int, list[tuple[str, str]]]:
        """Make a fresh index of ``sessions`` beside the live file and put it in its place
        in one rename; returns the notes indexed and the (session id, error) of each
        session skipped. Until the rename the live file is untouched: a crash, an error
        or ``cancelled`` (RebuildCancelledError) leaves it as it was."""
        spare = self._spare
        remove_database(spare)
        try:
            notes, skipped = _fill(spare, sessions, read_notes, cancelled)
            self.close()
            replace_database(spare, self.path)
        except BaseException:
            remove_database(spare)
            raise
        self._owed.unlink(missing_ok=True)  # a new file: nothing deleted in it
        self._db = connect(self.path)
        return notes, skipped

    def scrub_owed(self) -> bool:
        """Whether notes were removed since the last :meth:`scrub` (across restarts)."""
        return self._owed.exists()

    @property
    def _owed(self) -> Path:
        # A marker file, made before the first removal after a scrub: a crash before the
        # scrub leaves it, and the next start scrubs.
        return self.path.with_name(self.path.name + ".scrub")

    def replace(self, session_id: str, session: Session | None, notes: Iterable[Note] = ()) -> bool:
        """Replace what the index holds of ``session_id`` by ``session``'s ``notes``
        (nothing, when ``session`` is None); whether it held notes of it. Their words may
        stay in the index's older segments and the WAL until the next :meth:`scrub`."""
        db = self._require()
        with transaction(db):
            removed = self._delete(db, session_id)
            if session is not None:
                _insert(db, session, notes)
        return removed

    def remove(self, session_ids: Iterable[str]) -> bool:
        """Remove the notes of every session of ``session_ids`` in one transaction (one
        sync for many: a retention sweep's removals come in bursts); whether any had notes.
        Their words leave the files with the next :meth:`scrub`."""
        db = self._require()
        removed = False
        with transaction(db):
            for session_id in session_ids:  # every one, not only up to the first with notes
                removed = self._delete(db, session_id) or removed
        return removed

    def _delete(self, db: sqlite3.Connection, session_id: str) -> bool:
        ids = db.execute("SELECT id FROM notes WHERE session_id = ?", (session_id,))
        removed = ids.fetchall()
        if removed and not self._owed.exists():
            self._owed.touch(mode=FILE_MODE)
        db.executemany("DELETE FROM notes_text WHERE rowid = ?", removed)
        db.execute("DELETE FROM notes WHERE session_id = ?", (session_id,))
        db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        return bool(removed)

    def scrub(self) -> None:
        """Leave no deleted word anywhere in the files. Without FTS5's secure-delete, a
        deleted note's words stay in the index's older segments until they are merged:
        merge them all (it rewrites the whole index: once for many deletions, see
        :class:`~library.index.SessionLibrary`). Then copy everything back into the
        (secure-deleting) main file and empty the WAL, which holds the old pages."""
        db = self._require()
        if not FTS5_SECURE_DELETE:
            db.execute("INSERT INTO notes_text (notes_text) VALUES ('optimize')")
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if not busy:
            self._owed.unlink(missing_ok=True)

    def search(
        self, expression: str, chat_id: int, limit: int, offset: int
    ) -> list[tuple[str, int, float, str]]:
        """(session id, sequence, bm25 rank, marked snippet) of the chat's best matches."""
        db = self._require()
        oldest = db.execute(_WINDOW, (expression, chat_id, RANKED_WINDOW - 1)).fetchone()
        lowest_rowid = oldest[0] if oldest is not None else 0
        snippet = (MARK_START, MARK_END, SNIPPET_TOKENS)
        rows = db.execute(_SEARCH, (*snippet, expression, lowest_rowid, chat_id, limit, offset))
        return [(str(r[0]), int(r[1]), float(r[2]), str(r[3])) for r in rows]

    def indexed(self) -> dict[str, str]:
        """Each indexed session's id, with when it reached TRANSCRIBED."""
        query = "SELECT session_id, transcribed_at FROM sessions"
        return {str(row[0]): str(row[1]) for row in self._require().execute(query)}

    def count(self) -> int:
        return self._count("notes")

    def connection(self) -> sqlite3.Connection:
        """The open connection (LibraryError when closed), for the index's other readers
        and writers on the same thread (:mod:`library.passages`, ``_vectors``)."""
        return self._require()


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


def _fill(
    path: Path,
    sessions: Iterable[Session],
    read_notes: Callable[[Session], list[Note]],
    cancelled: threading.Event,
) -> tuple[int, list[tuple[str, str]]]:
    """A new index of ``sessions`` in the file ``path``, complete and closed; one session
    that cannot be indexed (two notes of one sequence in a hand-edited metadata.json, a
    transcript that cannot be read) is left out and named in the list returned."""
    db = connect(path)
    try:
        # Nothing reads this file before it is complete and renamed into place: no WAL and
        # no syncs while filling it (the rename's own fsync makes it durable).
        db.execute("PRAGMA journal_mode = MEMORY")
        db.execute("PRAGMA synchronous = OFF")
        count = 0
        skipped: list[tuple[str, str]] = []
        with transaction(db):
            for statement in _SCHEMA:
                db.execute(statement)
            if FTS5_SECURE_DELETE:
                db.execute(_SECURE_DELETE)
            for session in sessions:
                if cancelled.is_set():
                    raise RebuildCancelledError("the rebuild was cancelled")
                db.execute("SAVEPOINT one_session")
                try:
                    notes = read_notes(session)
                    _insert(db, session, notes)
                except (sqlite3.IntegrityError, ValueError, OSError) as exc:
                    db.execute("ROLLBACK TO one_session")
                    skipped.append((session.session_id, f"{type(exc).__name__}: {exc}"))
                    continue
                finally:
                    db.execute("RELEASE one_session")
                count += len(notes)
            db.execute("INSERT INTO notes_text (notes_text) VALUES ('optimize')")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("PRAGMA journal_mode = WAL")  # the mode the live file is used in
    finally:
        db.close()
    return count, skipped


def _migrate(db: sqlite3.Connection, version: int) -> None:
    if version == SCHEMA_VERSION:
        return
    with transaction(db):
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no copy of a dropped table in the WAL


__all__ = [
    "SCHEMA_VERSION",
    "LibraryDatabase",
    "LibraryError",
    "Note",
    "RebuildCancelledError",
    "stamp",
]
