"""Following a group that Telegram upgraded to a supergroup (a new chat id).

Telegram says so three ways, in any order: a service message ``migrate_to_chat_id`` in the
old group, ``migrate_from_chat_id`` in the new supergroup, and a 400 answer with
``parameters.migrate_to_chat_id`` to anything sent to the old id. The first of them moves
the chat: its sessions, its open session and its settings (the manager's
:meth:`~sessions.SessionManager.move_chat`), then the search index's rows (each moved
session indexed again, now under the new id), then the move is marked finished. The later
signs find it finished and do nothing; a move cut off by a crash is finished at the next
start (:meth:`ChatMigrations.start`). Sends to the old id go to the new one
(:class:`~bot.middlewares.migration.FollowMigrations`).
"""

from __future__ import annotations

import structlog

from library import SessionLibrary
from sessions import KeyedLocks, SessionManager

_log = structlog.get_logger("bot.migration")


class ChatMigrations:
    """Where chats moved, and the moves themselves (one at a time per chat)."""

    def __init__(self, manager: SessionManager, library: SessionLibrary) -> None:
        self._manager = manager
        self._library = library
        self._moved: dict[int, int] = {}  # old id -> new id, from the records
        self._finished: set[int] = set()  # old ids whose move is complete
        self._moving = KeyedLocks()

    async def start(self) -> None:
        """Learn the recorded moves, and finish the ones a crash cut off."""
        for record in await self._manager.chat_moves():
            self._moved[record.old_chat_id] = record.new_chat_id
            if record.finished:
                self._finished.add(record.old_chat_id)
        for old, new in list(self._moved.items()):
            if old not in self._finished:
                await self.follow(old, new)

    def destination(self, chat_id: int) -> int | None:
        """The id ``chat_id`` moved to, if it did (known to this process)."""
        return self._moved.get(chat_id)

    async def follow(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move chat ``old_chat_id`` to ``new_chat_id`` unless that is done already.

        Failures are logged, not raised: the send that showed the migration still goes to
        the new id, and the move is tried again at the next sign (a later send to the old
        id is refused again) or start.
        """
        if old_chat_id == new_chat_id:
            return
        known = self._moved.setdefault(old_chat_id, new_chat_id)
        if known != new_chat_id:
            _log.warning("chat_migration_conflict", old=old_chat_id, new=new_chat_id, known=known)
            return
        async with self._moving.hold(str(old_chat_id)):
            if old_chat_id in self._finished:
                return
            try:
                record = await self._manager.move_chat(old_chat_id, new_chat_id)
                for session_id in record.sessions:  # their rows name the old chat
                    await self._library.index_session(session_id)
                await self._manager.finish_chat_move(old_chat_id)
            except Exception:
                _log.exception("chat_migration_failed", old=old_chat_id, new=new_chat_id)
                self._moved.pop(old_chat_id, None)  # so the next refused send tries again
                return
            self._finished.add(old_chat_id)
        _log.info("chat_migrated", old=old_chat_id, new=new_chat_id, sessions=len(record.sessions))


__all__ = ["ChatMigrations"]
