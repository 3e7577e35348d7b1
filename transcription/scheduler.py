"""Which note is transcribed next: a priority queue of entries and the tasks that drain it.

The unit of work is one entry of one session, keyed by (session id, sequence). Entries of
finalized sessions come first, in the order their sessions were finalized and then by
sequence; entries recorded while their session is still collecting ("live") come after, in
the order they arrived. ``concurrency`` worker tasks each take the first entry, so no more
than that many run at once, whatever the backend (a thread here, or a job on a worker).

An entry has at most one run in this process: asking for an entry that is queued or running
joins that run (its future), and asking for a queued entry at a better priority moves it up,
so a session finalized while its notes are transcribed live waits for those runs instead of
starting second ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

_log = structlog.get_logger("transcription.scheduler")

R = TypeVar("R")

Priority = tuple[int, int, int]
"""Lower goes first: (tier, order, sequence)."""

_FINALIZED_TIER = 0
_LIVE_TIER = 1


def finalized_priority(order: int, sequence: int) -> Priority:
    """An entry of the ``order``-th finalized session: before every live entry."""
    return (_FINALIZED_TIER, order, sequence)


def live_priority(arrival: int) -> Priority:
    """An entry of a session still collecting, the ``arrival``-th recorded."""
    return (_LIVE_TIER, arrival, 0)


@dataclass(frozen=True)
class EntryKey:
    """One entry of one session."""

    session_id: str
    sequence: int


@dataclass
class _Job(Generic[R]):
    key: EntryKey
    priority: Priority
    done: asyncio.Future[R]
    running: bool = False


class EntryScheduler(Generic[R]):
    """Runs ``run(key)`` for submitted entries, best priority first, one run per entry."""

    def __init__(
        self,
        run: Callable[[EntryKey], Awaitable[R]],
        concurrency: int,
        ahead: Callable[[EntryKey], None] | None = None,
    ) -> None:
        self._run = run
        self._concurrency = concurrency
        # Told the entry that will be taken next while every worker is busy, once per entry,
        # so that it can be prepared meanwhile (its audio decoded).
        self._ahead = ahead
        self._announced: EntryKey | None = None
        self._jobs: dict[EntryKey, _Job[R]] = {}
        # (priority, tie-breaker, key); an item whose priority is no longer its job's is stale.
        self._heap: list[tuple[Priority, int, EntryKey]] = []
        self._ties = itertools.count()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the worker tasks."""
        for n in range(self._concurrency):
            self._workers.append(asyncio.create_task(self._work(), name=f"transcription-{n}"))

    async def stop(self) -> None:
        """Cancel the workers; runs cut off are cancelled (their futures too)."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        for job in self._jobs.values():
            job.done.cancel()
        self._jobs.clear()
        self._heap.clear()
        self._idle.set()

    def submit(self, key: EntryKey, priority: Priority) -> asyncio.Future[R]:
        """Queue ``key`` at ``priority``; returns the future of its run.

        An entry already queued or running is not queued again: its run's future is
        returned, and a queued one takes ``priority`` if that is better than its own.
        """
        job = self._jobs.get(key)
        if job is None:
            job = _Job(key, priority, asyncio.get_running_loop().create_future())
            job.done.add_done_callback(_retrieve)
            self._jobs[key] = job
            self._push(job)
            self._idle.clear()
        elif not job.running and priority < job.priority:
            job.priority = priority
            self._push(job)
        self._announce_next()
        return job.done

    def priority_of(self, key: EntryKey) -> Priority | None:
        """The priority of a queued entry; None when it is running or not there."""
        job = self._jobs.get(key)
        return None if job is None or job.running else job.priority

    def running(self) -> list[EntryKey]:
        """The entries being run now."""
        return [key for key, job in self._jobs.items() if job.running]

    def queued(self) -> list[EntryKey]:
        """The entries waiting, in the order they will be taken."""
        waiting = [job for job in self._jobs.values() if not job.running]
        return [job.key for job in sorted(waiting, key=lambda j: j.priority)]

    @property
    def idle(self) -> bool:
        """Whether nothing is queued or running now."""
        return self._idle.is_set()

    async def wait_idle(self) -> None:
        """Until nothing is queued or running."""
        await self._idle.wait()

    def _announce_next(self) -> None:
        """Tell ``ahead`` the entry to be taken next, when no worker is free to take it now."""
        if self._ahead is None:
            return
        running = sum(job.running for job in self._jobs.values())
        if running < self._concurrency:
            return  # a worker takes the best entry at once: nothing to prepare ahead
        waiting = [job for job in self._jobs.values() if not job.running]
        if not waiting:
            return
        best = min(waiting, key=lambda job: job.priority).key
        if best != self._announced:
            self._announced = best
            self._ahead(best)

    def _push(self, job: _Job[R]) -> None:
        heapq.heappush(self._heap, (job.priority, next(self._ties), job.key))
        self._wakeup.set()

    def _take(self) -> _Job[R] | None:
        while self._heap:
            priority, _, key = heapq.heappop(self._heap)
            job = self._jobs.get(key)
            if job is None or job.running or job.priority != priority:
                continue  # stale: finished, taken, or moved up since it was pushed
            job.running = True
            return job
        return None

    async def _work(self) -> None:
        while True:
            job = self._take()
            if job is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self._announce_next()
            try:
                result = await self._run(job.key)
            except asyncio.CancelledError:
                job.done.cancel()
                raise
            except Exception as exc:  # the run's own logging said what; keep this task alive
                if not job.done.done():
                    job.done.set_exception(exc)
            else:
                if not job.done.done():
                    job.done.set_result(result)
            finally:
                if self._jobs.get(job.key) is job:
                    del self._jobs[job.key]
                if not self._jobs:
                    self._idle.set()


def _retrieve(future: asyncio.Future[R]) -> None:
    # A live run nobody awaits may fail: its failure was logged by the run itself.
    if not future.cancelled():
        future.exception()
