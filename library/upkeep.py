"""The part of :class:`~library.index.SessionLibrary` that keeps the index usable without
ever holding anything up: opening (never waiting for a repair), rebuilding beside the live
file in the background, trying again when the file is only unavailable, and scrubbing the
words of removed notes out of the files once for many removals.

Only real corruption (SQLite's "file is not a database", "database disk image is malformed",
a failed quick_check), a missing file or another schema version rebuild the index. Any other
error ("database is locked", a full disk, an I/O error) is raised as LibraryError, logged,
and the file is tried again later: it may hold nothing else, but it is never thrown away
for a passing problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import structlog

from library.chat_settings_store import SqliteChatSettings
from library.db import LibraryDatabase, Note, RebuildCancelledError
from library.files import LibraryError, is_corruption
from sessions.models import Session

SCRUB_QUIET_SECONDS = 2.0
"""Removals scrub the files once none came for this long (see SessionLibrary._scrub_soon)."""
SCRUB_MAX_SECONDS = 30.0
"""... or this long after the first of them, at the latest (a sweep that goes on and on)."""
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
"""An index that cannot be opened or rebuilt (locked, I/O, a full disk) is tried again
after these delays, doubling."""
_T = TypeVar("_T")
_log = structlog.get_logger("library.index")


class IndexUpkeep:
    """Opening, rebuilding and scrubbing the index (a part of SessionLibrary)."""

    chat_settings: SqliteChatSettings
    _db: LibraryDatabase
    _executor: ThreadPoolExecutor
    _writing: asyncio.Lock
    _rebuilding: asyncio.Lock
    _deferred: set[str]
    _tasks: set[asyncio.Task[None]]
    _rebuild_reason: str | None
    _scrub_delay: float
    _scrub_waiting: bool
    _removed_at: float
    _retry_seconds: float
    _closing: asyncio.Event
    _cancel: threading.Event
    _closed: bool

    @property
    def rebuilding(self) -> bool:
        """Whether the index is being rebuilt (searches raise LibraryRebuildingError)."""
        return self._rebuild_reason is not None

    # -- life cycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the chats' settings and the index, without waiting for any repair: it
        returns at once, and the bot answers meanwhile. An index file that is missing,
        corrupt or of another schema version is rebuilt beside the live one by a task of
        its own (about a minute at 10,000 sessions; searches meanwhile raise
        LibraryRebuildingError); an intact one is usable at once and brought in line with
        the folders by a task of its own. A file that cannot be opened for another reason
        (locked, I/O, a full disk) is never rebuilt: logged, and tried again with a
        doubling delay. :meth:`wait_idle` waits for all of it; each step is logged."""
        started = time.perf_counter()
        try:
            problem = await self._open_files()
        except LibraryError as exc:
            _log.error("library_unavailable", error=str(exc), retry_in=self._retry_seconds)
            self._spawn(self._open_later(started), during="open")
            return
        self._go_on(problem, started)

    async def _open_files(self) -> str | None:
        # The settings first: their file takes an older index's settings before the
        # index's upgrade drops that table.
        await self.chat_settings.open()
        return await self._call(self._db.open)

    def _go_on(self, problem: str | None, started: float) -> None:
        if problem is None:
            self._spawn(self._catch_up(started), during="open")
        else:
            self._rebuild_reason = problem  # from now on searches say so
            self._spawn(self._rebuild_until_done(problem), during="rebuild")

    async def _open_later(self, started: float) -> None:
        delay = self._retry_seconds
        while await self._pause(delay):
            try:
                problem = await self._open_files()
            except LibraryError as exc:
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                _log.error("library_unavailable", error=str(exc), retry_in=delay)
                continue
            self._go_on(problem, started)
            return

    async def _catch_up(self, started: float) -> None:
        if await self._call(self._db.scrub_owed):
            self._scrub_soon()  # removals a crash kept from being scrubbed
        added, removed = await self.sync()
        notes = await self._call(self._db.count)
        _log.info(
            "library_opened",
            notes=notes,
            sessions_added=added,
            sessions_removed=removed,
            seconds=round(time.perf_counter() - started, 3),
        )

    async def _rebuild_until_done(self, reason: str) -> None:
        delay = self._retry_seconds
        while True:
            try:
                await self.rebuild(reason)
                return
            except LibraryError as exc:
                if self._closing.is_set():
                    return
                _log.error("library_rebuild_failed", reason=reason, error=str(exc), retry_in=delay)
            self._rebuild_reason = reason  # still: searches keep saying so
            if not await self._pause(delay):
                return
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def rebuild(self, reason: str = "asked for") -> int:
        """Recreate the index from the session folders; returns the notes indexed.

        The new index is made beside the live file and renamed into its place when complete:
        a crash or an error part of the way leaves the live file as it was (and the chats'
        settings are in a file of their own). A session that cannot be indexed is left out
        and logged. Index updates asked for meanwhile are caught up with right after.
        """
        started = time.perf_counter()
        async with self._rebuilding:
            self._rebuild_reason = reason
            try:
                sessions = await self._searchable_sessions()
                notes, skipped = await self._call(
                    self._db.rebuild, sessions, self._read_notes, self._cancel
                )
            except RebuildCancelledError as exc:
                _log.warning("library_rebuild_stopped", reason=reason)
                raise LibraryError("the rebuild was stopped: the library is closing") from exc
            finally:
                self._rebuild_reason = None
        for session_id, error in skipped:
            _log.warning("library_session_skipped", session_id=session_id, error=error)
        # What changed while it was being made (not the sessions it just skipped).
        added, removed = await self.sync(skip={session_id for session_id, _ in skipped})
        deferred, self._deferred = self._deferred, set()
        for session_id in sorted(deferred):
            await self.index_session(session_id)
        chats = None
        with contextlib.suppress(LibraryError):
            chats = await self.chat_settings.count()
        _log.info(
            "library_rebuilt",
            reason=reason,
            sessions=len(sessions) - len(skipped),
            sessions_skipped=len(skipped),
            notes=notes,
            caught_up=added + removed,
            chat_settings_kept=chats,
            seconds=round(time.perf_counter() - started, 3),
        )
        return notes

    async def scrub(self) -> None:
        """Leave no word of removed notes in the files now (what removals do by themselves a
        moment after the last of them); it rewrites the index without FTS5's secure-delete."""
        async with self._writing:
            await self._call(self._db.scrub)

    # -- on the event loop -----------------------------------------------------------------

    def _scrub_soon(self) -> None:
        """Scrub once removals pause for ``scrub_delay`` seconds, or SCRUB_MAX_SECONDS after
        the first of them at the latest: a sweep over thousands of sessions costs a scrub or
        a few, not one each."""
        self._removed_at = time.monotonic()
        if not self._scrub_waiting:
            self._scrub_waiting = True
            self._spawn(self._scrub_later(self._removed_at), during="scrub")

    async def _scrub_later(self, first: float) -> None:
        while not self._closing.is_set():
            due = min(self._removed_at + self._scrub_delay, first + SCRUB_MAX_SECONDS)
            if due <= time.monotonic():
                break
            await self._pause(due - time.monotonic())
        self._scrub_waiting = False
        started = time.perf_counter()
        if self.rebuilding:
            return  # the new file replaces the old one whole
        await self.scrub()
        _log.debug("search_index_scrubbed", seconds=round(time.perf_counter() - started, 3))

    async def _pause(self, seconds: float) -> bool:
        """Wait ``seconds``, or less if the library closes; whether it is still open."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), max(seconds, 0))
        return not self._closing.is_set()

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

    async def _call(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._closed and function != self._db.close:
            raise LibraryError("the search index is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, partial(function, *args))
        except (sqlite3.Error, OSError) as exc:
            if is_corruption(exc) and not self.rebuilding and not self._closing.is_set():
                # Damaged while in use: only this (never "locked", I/O, a full disk) rebuilds.
                self._rebuild_reason = f"corrupt: {exc}"
                self._spawn(self._rebuild_until_done(self._rebuild_reason), during="rebuild")
            raise LibraryError(f"the search index failed: {exc}") from exc

    # -- SessionLibrary's ------------------------------------------------------------------

    async def sync(self, skip: Collection[str] = ()) -> tuple[int, int]:
        raise NotImplementedError

    async def index_session(self, session_id: str) -> None:
        raise NotImplementedError

    async def _searchable_sessions(self) -> list[Session]:
        raise NotImplementedError

    def _read_notes(self, session: Session) -> list[Note]:
        raise NotImplementedError


__all__ = ["IndexUpkeep"]
