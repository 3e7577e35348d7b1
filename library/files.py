"""The SQLite files beside the sessions (the search index, the chats' settings): how they
are opened, how an error is told from corruption, and how a new file replaces an old one.

Blocking; used from the worker threads of :mod:`library.index` and
:mod:`library.chat_settings_store`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sessions.atomic import fsync_path
from sessions.errors import SessionError
from sessions.layout import FILE_MODE

SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's own files beside a database, which belong to that file only."""
_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_CORRUPT_TEXTS = ("file is not a database", "database disk image is malformed")


class LibraryError(SessionError):
    """The search index (or the chats' settings beside it) cannot be used right now: not
    open, or its database failed."""


class LibraryRebuildingError(LibraryError):
    """The search index is being rebuilt from the session folders: searches work again
    once it is done."""


class SingleConnection:
    """A database file a store keeps one connection to (blocking, one thread): whether it is
    open, the connection (``closed_error`` when it is not), counting a table's rows, closing."""

    closed_error: type[LibraryError] = LibraryError
    closed_message = "the database is not open"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def close(self) -> None:
        """Close the connection; closing a closed file does nothing."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise self.closed_error(self.closed_message)
        return self._db

    def _count(self, table: str) -> int:
        return int(self._require().execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def is_corruption(exc: BaseException) -> bool:
    """Whether ``exc`` says the file itself is damaged (not a database, malformed). Every
    other error ("database is locked", a full disk, an I/O error) passes and must not
    lead to throwing the file away."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _CORRUPT_CODES:
        return True
    return any(text in str(exc) for text in _CORRUPT_TEXTS)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` (created owner-only when missing) in WAL mode, with full
    syncs and secure deletion. Raises ``sqlite3.Error`` (or ``OSError``)."""
    # Created owner-only first: SQLite gives its -wal and -shm files the same mode.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")  # a lost commit would go unnoticed
        # Deleted rows are overwritten with zeros: a forgotten transcript's (or chat's)
        # words must not stay readable in freed pages of the file.
        db.execute("PRAGMA secure_delete = ON")
    except BaseException:
        db.close()
        raise
    return db


def remove_database(path: Path) -> None:
    """Delete ``path`` and SQLite's files beside it (those that exist)."""
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def replace_database(new: Path, live: Path) -> None:
    """Put the closed, complete database ``new`` in the place of ``live`` in one rename:
    a crash leaves either the old file or the new one, never neither. The old file's
    -wal/-shm go first (they would be read as the new file's); its connection must be
    closed (which folds its WAL back into it)."""
    fsync_path(new)
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{live}{suffix}")
    os.replace(new, live)
    fsync_path(live.parent)


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


__all__ = [
    "SIDE_FILES",
    "LibraryError",
    "LibraryRebuildingError",
    "connect",
    "is_corruption",
    "remove_database",
    "replace_database",
    "transaction",
]
