"""Group commit: the read-modify-write of one session at a time, batched.

Each change to a session is applied under the session's lock: an in-process
``asyncio.Lock`` (so waiters queue on the loop, not in threads) and the storage's
cross-process file lock, taken in a worker thread together with the blocking reads and
fsyncs. Changes that queue up for the same session while a write is under way are applied
together in the next one: a burst of 50 voice notes costs a few fsyncs, not 100.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sessions import events as ev
from sessions.errors import SessionNotFoundError
from sessions.locks import KeyedLocks
from sessions.models import Session, utc_now
from sessions.storage import SessionStorage

# A change returns the events it caused, or None when it changed nothing. It must raise
# before it modifies the session: changes are applied in batches to one loaded copy.
# Each is the event class with its fields filled in; the session's ids are added on publishing.
Events = list[Callable[..., ev.Event]]
Change = Callable[[Session], Events | None]


@dataclass
class _Queued:
    change: Change
    done: asyncio.Future[tuple[Session, Events]]


class WriteQueue:
    """Applies changes to sessions durably, one locked load and one save per batch."""

    def __init__(self, storage: SessionStorage, locks: KeyedLocks | None = None) -> None:
        self.storage = storage
        self._locks = locks or KeyedLocks()
        self._queued: dict[str, list[_Queued]] = {}

    async def apply(self, session_id: str, change: Change) -> tuple[Session, Events]:
        """Apply ``change`` durably; returns the session as saved (do not modify it) and the
        events the change caused (to publish). The change's own exception is raised."""
        item = _Queued(change, asyncio.get_running_loop().create_future())
        # Queued before the first await, so changes apply in the order they were asked for.
        self._queued.setdefault(session_id, []).append(item)
        # A task of its own, shielded: a cancelled caller must neither release the lock in
        # the middle of a write nor leave the other changes of its batch unsettled.
        await asyncio.shield(asyncio.ensure_future(self._write_queued(session_id)))
        return await item.done

    @contextlib.asynccontextmanager
    async def exclusive(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's in-process lock: no batch of it is written meanwhile."""
        async with self._locks.hold(f"session:{session_id}"):
            yield

    async def _write_queued(self, session_id: str) -> None:
        """Under the session's lock, write every change queued so far (if any are left)."""
        async with self.exclusive(session_id):
            batch = self._queued.pop(session_id, [])
            if batch:
                await self._run_batch(session_id, batch)

    async def _run_batch(self, session_id: str, batch: list[_Queued]) -> None:
        results = await asyncio.to_thread(self._apply_batch, session_id, batch)
        for queued, result in zip(batch, results, strict=True):
            if queued.done.cancelled():
                continue
            if isinstance(result, BaseException):
                queued.done.set_exception(result)
            else:
                queued.done.set_result(result)

    def _apply_batch(
        self, session_id: str, batch: list[_Queued]
    ) -> list[tuple[Session, Events] | BaseException]:
        """One locked load, every change in order, one save (blocking)."""
        try:
            with self.storage.lock(session_id):
                session = self.storage.load(session_id)
                if session is None:
                    raise SessionNotFoundError(f"unknown session: {session_id}")
                outcomes: list[Events | BaseException | None] = []
                for queued in batch:
                    try:
                        outcomes.append(queued.change(session))
                    except Exception as exc:  # this change is refused; the others go on
                        outcomes.append(exc)
                if any(isinstance(o, list) for o in outcomes):
                    session.updated_at = utc_now()
                    self.storage.save(session)
        except Exception as exc:  # nothing was saved: every change in the batch failed
            return [exc for _ in batch]
        return [o if isinstance(o, BaseException) else (session, o or []) for o in outcomes]


__all__ = ["Change", "Events", "WriteQueue"]
