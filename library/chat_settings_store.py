"""Chats' settings in a small SQLite file of their own, beside the search index.

The search index can be thrown away and rebuilt from the session folders; the chats'
``/lang`` and ``/vocab`` can not: they are kept nowhere else. So they live apart from it,
in a file that is never rebuilt, written by one thread of its own: a settings change never
waits behind the index (a rebuild, a retention sweep's deletions).

Older versions kept them in the index's ``chat_settings`` table: the first open copies them
from there into a new file, made under a temporary name and renamed into place when
complete, before the index drops the table (:mod:`library.db`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import structlog

from library.files import (
    LibraryError,
    SingleConnection,
    connect,
    is_corruption,
    remove_database,
    replace_database,
    transaction,
)
from runtime.redaction import error_kinds
from sessions.atomic import make_dir
from sessions.chat_settings import ChatSettings

CHAT_SETTINGS_FILE = "chat_settings.sqlite3"
_TABLE = (
    "CREATE TABLE IF NOT EXISTS chat_settings (chat_id INTEGER PRIMARY KEY,"
    " settings TEXT NOT NULL, updated_at TEXT NOT NULL)"
)
_Row = tuple[int, str, str]
_T = TypeVar("_T")
_log = structlog.get_logger("library.chat_settings")


class ChatSettingsUnavailableError(LibraryError):
    """The chats' settings file cannot be used right now (locked, a full disk, I/O)."""


class ChatSettingsFile(SingleConnection):
    """The settings file at ``path`` and its one connection (blocking, one thread)."""

    closed_error = ChatSettingsUnavailableError
    closed_message = "the chats' settings are not open"

    def __init__(self, path: Path, legacy_index: Path | None = None) -> None:
        super().__init__(path)
        self._legacy = legacy_index

    def open(self) -> int:
        """Open the file, made (with the settings of the old index, if any) when missing;
        returns how many chats' settings were moved over from the index (0 if none)."""
        if self._db is not None:
            return 0
        make_dir(self.path.parent)
        moved = 0 if self.path.exists() else self._create()
        try:
            db = connect(self.path)
            db.execute(_TABLE)
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            # Nothing to rebuild it from: kept aside for the owner, the chats start afresh.
            aside = self.path.with_name(self.path.name + ".corrupt")
            _log.error("chat_settings_file_corrupt", kept_as=aside.name, error=str(exc))
            os.replace(self.path, aside)
            remove_database(self.path)
            return self.open()
        self._db = db
        return moved

    def _create(self) -> int:
        rows = legacy_rows(self._legacy) if self._legacy is not None else []
        new = self.path.with_name(self.path.name + ".new")
        remove_database(new)
        try:
            db = connect(new)
            try:
                with transaction(db):
                    db.execute(_TABLE)
                    db.executemany("INSERT OR REPLACE INTO chat_settings VALUES (?, ?, ?)", rows)
            finally:
                db.close()  # the last connection: the WAL is folded in and removed
            replace_database(new, self.path)
        except BaseException:
            remove_database(new)
            raise
        if rows:
            _log.info("chat_settings_moved", chats=len(rows), to=self.path.name)
        return len(rows)

    def load(self, chat_id: int) -> str | None:
        row = self._require().execute(
            "SELECT settings FROM chat_settings WHERE chat_id = ?", (chat_id,)
        )
        found = row.fetchone()
        return None if found is None else str(found[0])

    def save(self, chat_id: int, settings: str | None, when: str) -> bool:
        """Store the chat's settings (None: remove them); whether a row was removed."""
        db = self._require()
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

    def count(self) -> int:
        return self._count("chat_settings")


def legacy_rows(index: Path) -> list[_Row]:
    """The ``chat_settings`` rows of an index file of an older version, as far as they can
    be read (a damaged file gives what it still can); none when it has no such table.
    Other errors (locked, I/O) are raised: the file is made only once they are read."""
    if not index.exists():
        return []
    rows: list[_Row] = []
    try:
        db = sqlite3.connect(f"file:{index}?mode=rw", uri=True)
        try:
            table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chat_settings'"
            if db.execute(table).fetchone() is None:
                return []
            for row in db.execute("SELECT chat_id, settings, updated_at FROM chat_settings"):
                rows.append((int(row[0]), str(row[1]), str(row[2])))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        _log.warning("chat_settings_partly_unreadable", chats_read=len(rows), error=str(exc))
    return rows


class SqliteChatSettings:
    """The :class:`~sessions.chat_settings.ChatSettingsStore` of the bot: a
    :class:`ChatSettingsFile` used from a worker thread of its own. A file that cannot
    be opened (locked, I/O) is tried again at the next use; until then each use raises
    :class:`ChatSettingsUnavailableError` (the handlers say so in the chat)."""

    def __init__(self, path: Path, legacy_index: Path | None = None) -> None:
        self.path = path
        self._file = ChatSettingsFile(path, legacy_index)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chat-settings")
        self._closed = False

    async def open(self) -> None:
        """Open the file now (moving the old index's settings over, once)."""
        await self._call(self._file.open)

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        """The chat's stored settings; None when it has none, or when what is stored is
        not valid settings (logged; the chat is then served with the defaults)."""
        stored = await self._call(self._file.load, chat_id)
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
        await self._call(self._file.save, chat_id, text, datetime.now(UTC).isoformat())

    async def delete_chat_settings(self, chat_id: int) -> bool:
        """Remove the chat's settings for good (no copy stays in the files)."""
        return await self._call(self._file.save, chat_id, None, datetime.now(UTC).isoformat())

    async def count(self) -> int:
        return await self._call(self._file.count)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            await asyncio.get_running_loop().run_in_executor(self._executor, self._file.close)
        self._executor.shutdown(wait=False)

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise ChatSettingsUnavailableError("the chats' settings are closed")
        loop = asyncio.get_running_loop()
        try:
            opened = partial(self._opened, function, *args)
            return await loop.run_in_executor(self._executor, opened)
        except (sqlite3.Error, OSError) as exc:
            _log.warning("chat_settings_failed", error=str(exc))
            raise ChatSettingsUnavailableError(f"the chats' settings failed: {exc}") from exc

    def _opened(self, function: Callable[..., _T], *args: Any) -> _T:
        if not self._file.is_open:
            self._file.open()
        return function(*args)


def chat_settings_path(folder: Path) -> Path:
    """Where the chats' settings are kept, in the index's folder ``folder``."""
    return folder / CHAT_SETTINGS_FILE


__all__ = [
    "CHAT_SETTINGS_FILE",
    "ChatSettingsFile",
    "ChatSettingsUnavailableError",
    "SqliteChatSettings",
    "chat_settings_path",
    "legacy_rows",
]
