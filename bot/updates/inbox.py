"""The inbox: raw updates kept durably on our side, so Telegram can be told at once.

``getUpdates`` confirms every update below its ``offset`` and returns at most 100. If the
offset waited for each update to be handled, one slow update (a 20 MB download, minutes)
would hold it, and once 99 later ones were done nothing new would come: every chat would
wait on that one. Instead each update is written here (SQLite, committed with ``fsync``)
before the poll that confirms it, handled from here, and removed once its entry in the
update journal is on disk. At start-up whatever is still here is handled again first: a
crash loses nothing, and the journal keeps it from being handled twice.

Raw updates are stored as JSON text, never pickled. One bot's updates only: a row of
another bot (the token changed) is kept for that bot and never handled here. At most
:data:`MAX_HELD` updates are held: when full, the poller fetches nothing until some are
done, and Telegram keeps the rest (it holds updates for a day).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog

from sessions import make_dir

_log = structlog.get_logger("bot.updates.inbox")

# A raw update is a few KB at most: 1000 of them is a few MB on disk and in memory, and far
# more than the chats of one self-hosted bot send while a single note downloads.
MAX_HELD = 1000
INBOX_NAME = "inbox.sqlite3"
FILE_MODE = 0o600  # owner-only, like every file under SESSIONS_DIR

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id INTEGER NOT NULL,
    update_id INTEGER NOT NULL,
    raw TEXT NOT NULL,
    stored_at REAL NOT NULL
)
"""


class UpdateInbox:
    """The updates of one bot that were confirmed to Telegram but are not handled yet."""

    def __init__(
        self, path: Path, *, limit: int = MAX_HELD, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.limit = limit
        self.bot_id: int | None = None
        self._held: set[int] = set()  # update ids of this bot, in the file
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the one connection

    @classmethod
    def beside(cls, journal_path: Path) -> UpdateInbox:
        """The inbox in the update journal's folder."""
        return cls(journal_path.with_name(INBOX_NAME))

    @property
    def room(self) -> int:
        """How many more updates may be stored now."""
        return max(0, self.limit - len(self._held))

    def holds(self, update_id: int) -> bool:
        return update_id in self._held

    async def open(self, bot_id: int) -> list[dict[str, Any]]:
        """Open (or create) the file; the raw updates of ``bot_id`` it holds, in the order
        they arrived. A file SQLite cannot read is moved aside and logged."""
        self.bot_id = bot_id
        async with self._lock:
            held = await asyncio.to_thread(self._open, bot_id)
        self._held = {raw["update_id"] for raw in held}
        if held:
            _log.info("inbox_resumed", held=len(held), path=str(self.path))
        return held

    async def store(self, updates: Iterable[dict[str, Any]]) -> None:
        """Write ``updates`` durably (committed and synced) before returning. Each must carry
        an int ``update_id``."""
        rows = [(u["update_id"], json.dumps(u, ensure_ascii=False)) for u in updates]
        if not rows:
            return
        async with self._lock:
            await asyncio.to_thread(self._insert, rows)
        self._held.update(update_id for update_id, _ in rows)

    async def remove(self, update_id: int) -> None:
        """The update is handled (its journal entry is on disk): let it go."""
        if update_id not in self._held:
            return
        async with self._lock:
            await asyncio.to_thread(self._delete, update_id)
        self._held.discard(update_id)

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                await asyncio.to_thread(self._db.close)
                self._db = None

    # -- in a worker thread ------------------------------------------------------------------

    def _open(self, bot_id: int) -> list[dict[str, Any]]:
        make_dir(self.path.parent)  # owner-only, like everything under SESSIONS_DIR
        try:
            return self._connect_and_read(bot_id)
        except sqlite3.DatabaseError as exc:
            if self._db is not None:
                self._db.close()
                self._db = None
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{self.path}{suffix}").replace(Path(f"{aside}{suffix}"))
            _log.error("inbox_unreadable", path=str(self.path), kept_as=str(aside), error=str(exc))
            return self._connect_and_read(bot_id)

    def _connect_and_read(self, bot_id: int) -> list[dict[str, Any]]:
        if not self.path.exists():  # owner-only; SQLite's -wal and -shm files follow it
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
        db.execute(_SCHEMA)
        others = db.execute("SELECT COUNT(*) FROM held WHERE bot_id != ?", (bot_id,)).fetchone()
        if others[0]:
            _log.warning("inbox_other_bot", kept=others[0], bot_id=bot_id, path=str(self.path))
        held: list[dict[str, Any]] = []
        rows = db.execute("SELECT seq, raw FROM held WHERE bot_id = ? ORDER BY seq", (bot_id,))
        for seq, text in rows.fetchall():
            try:
                raw = json.loads(text)
                if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
                    raise ValueError("not an update")
            except ValueError as exc:  # we wrote it, so only a damaged disk gets here
                _log.error("inbox_entry_unreadable", seq=seq, error=str(exc))
                db.execute("DELETE FROM held WHERE seq = ?", (seq,))
                continue
            held.append(raw)
        return held

    def _insert(self, rows: list[tuple[int, str]]) -> None:
        db = self._connection()
        now = self._clock()
        with db:  # one transaction, one fsync for the whole batch
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO held (bot_id, update_id, raw, stored_at) VALUES (?, ?, ?, ?)",
                [(self.bot_id, update_id, raw, now) for update_id, raw in rows],
            )

    def _delete(self, update_id: int) -> None:
        # Not synced: a removal lost to a power cut only means the update is handled again at
        # start-up, where the journal already knows it. In WAL mode an unsynced commit keeps
        # the file sound, and the next stored batch's sync writes it out as well. A burst of
        # 50 notes is so 50 fewer fsyncs beside the notes' own writes.
        db = self._connection()
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute(
                "DELETE FROM held WHERE bot_id = ? AND update_id = ?", (self.bot_id, update_id)
            )
        finally:
            db.execute("PRAGMA synchronous=FULL")  # what stores updates stays synced

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the inbox is not open")
        return self._db
