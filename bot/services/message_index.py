"""Which session each message the bot sent belongs to, so a reply to a transcript or a
note ("shorter", "translate it to German") reaches that session's notes.

Kept in a small SQLite file beside the update journal (``.telegram/messages.sqlite3`` in
SESSIONS_DIR): a reply may come days and restarts later, and Telegram tells only the id of
the message replied to. A row holds ids only, no text; a forgotten session's rows lead
nowhere (the session is gone) and are dropped when it is deleted. Every call runs in a
thread: SQLite blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from sessions import EventBus
from sessions.events import SessionDeleted

_log = structlog.get_logger("bot.message_index")

INDEX_PATH = Path(".telegram") / "messages.sqlite3"  # inside SESSIONS_DIR
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sent ("
    " chat_id INTEGER NOT NULL, message_id INTEGER NOT NULL, session_id TEXT NOT NULL,"
    " PRIMARY KEY (chat_id, message_id))"
)


class MessageIndex:
    """(chat, message id) -> session id, for the messages the bot sent."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Drop a session's rows once it is deleted (/forget, retention); the unsubscribe."""

        async def deleted(event: SessionDeleted) -> None:
            await self.forget(event.session_id)

        return bus.subscribe(deleted, SessionDeleted)

    async def remember(self, chat_id: int, message_id: int, session_id: str) -> None:
        """Record that ``message_id`` in ``chat_id`` shows ``session_id``; a failure is
        logged, never raised (the message arrived; only replies to it lose their way)."""
        try:
            await asyncio.to_thread(self._write, chat_id, message_id, session_id)
        except (sqlite3.Error, OSError) as exc:
            _log.warning("message_index_unwritable", error=str(exc), session_id=session_id)

    async def session_of(self, chat_id: int, message_id: int) -> str | None:
        """The session ``message_id`` showed, or None (not ours, or not known)."""
        try:
            return await asyncio.to_thread(self._read, chat_id, message_id)
        except (sqlite3.Error, OSError) as exc:
            _log.warning("message_index_unreadable", error=str(exc))
            return None

    async def forget(self, session_id: str) -> None:
        """Drop a deleted session's rows."""
        try:
            await asyncio.to_thread(self._delete, session_id)
        except (sqlite3.Error, OSError) as exc:
            _log.warning("message_index_unwritable", error=str(exc), session_id=session_id)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, timeout=5.0)
        try:
            with connection:  # one transaction, committed on the way out
                connection.execute(_SCHEMA)
                yield connection
        finally:
            connection.close()

    def _write(self, chat_id: int, message_id: int, session_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO sent (chat_id, message_id, session_id) VALUES (?, ?, ?)",
                (chat_id, message_id, session_id),
            )

    def _read(self, chat_id: int, message_id: int) -> str | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT session_id FROM sent WHERE chat_id = ? AND message_id = ?",
                (chat_id, message_id),
            ).fetchone()
        return None if row is None else str(row[0])

    def _delete(self, session_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM sent WHERE session_id = ?", (session_id,))
