"""The entry scheduler's logic: priority, one run per entry, promotion, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.conftest import TIMEOUT_SCALE
from transcription.scheduler import EntryKey, EntryScheduler, finalized_priority, live_priority

WAIT = 5 * TIMEOUT_SCALE


class Runs:
    """A run function whose runs wait until released; records the order they started."""

    def __init__(self) -> None:
        self.started: list[EntryKey] = []
        self.running = 0
        self.peak = 0
        self.gates: dict[EntryKey, asyncio.Event] = {}
        self.open = False
        self.fail: set[EntryKey] = set()
        self.changed = asyncio.Condition()

    def gate(self, entry: EntryKey) -> asyncio.Event:
        event = self.gates.setdefault(entry, asyncio.Event())
        if self.open:
            event.set()
        return event

    def release(self, entry: EntryKey | None = None) -> None:
        """Let ``entry`` finish, or (None) every run from now on."""
        if entry is None:
            self.open = True
            for event in self.gates.values():
                event.set()
        else:
            self.gate(entry).set()

    async def __call__(self, entry: EntryKey) -> str:
        self.started.append(entry)
        self.running += 1
        self.peak = max(self.peak, self.running)
        async with self.changed:
            self.changed.notify_all()
        try:
            await self.gate(entry).wait()
            if entry in self.fail:
                raise RuntimeError(f"broken {entry}")
            return f"{entry.session_id}/{entry.sequence}"
        finally:
            self.running -= 1

    async def wait_started(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.started) >= count), WAIT)


def key(session: str, sequence: int) -> EntryKey:
    return EntryKey(session, sequence)


@pytest.fixture
def runs() -> Runs:
    return Runs()


async def started(runs: Runs, concurrency: int = 1) -> EntryScheduler[str]:
    scheduler: EntryScheduler[str] = EntryScheduler(runs, concurrency=concurrency)
    scheduler.start()
    return scheduler


@pytest.fixture
async def scheduler(runs: Runs) -> AsyncIterator[EntryScheduler[str]]:
    made = await started(runs)
    yield made
    await made.stop()


async def test_finalized_entries_go_before_queued_live_entries(
    runs: Runs, scheduler: EntryScheduler[str]
) -> None:
    first = scheduler.submit(key("live", 1), live_priority(0))
    await runs.wait_started(1)  # a live note under way is not taken back
    for n, sequence in enumerate((2, 3), start=1):
        scheduler.submit(key("live", sequence), live_priority(n))
    later = scheduler.submit(key("later", 1), finalized_priority(1, 1))
    earlier = [scheduler.submit(key("done", s), finalized_priority(0, s)) for s in (2, 1)]
    assert scheduler.queued() == [
        key("done", 1),
        key("done", 2),
        key("later", 1),
        key("live", 2),
        key("live", 3),
    ]
    runs.release()
    assert await asyncio.wait_for(first, WAIT) == "live/1"
    await asyncio.wait_for(asyncio.gather(later, *earlier), WAIT)
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert runs.started == [
        key("live", 1),
        key("done", 1),
        key("done", 2),
        key("later", 1),
        key("live", 2),
        key("live", 3),
    ]


async def test_an_entry_has_one_run_queued_or_running(
    runs: Runs, scheduler: EntryScheduler[str]
) -> None:
    running = scheduler.submit(key("s", 1), live_priority(0))
    await runs.wait_started(1)
    queued = scheduler.submit(key("s", 2), live_priority(1))
    # Asked again while running, and while queued (a redelivered note, /done): joined.
    assert scheduler.submit(key("s", 1), finalized_priority(0, 1)) is running
    assert scheduler.submit(key("s", 2), live_priority(5)) is queued
    assert scheduler.running() == [key("s", 1)]
    runs.release()
    assert await asyncio.wait_for(running, WAIT) == "s/1"
    assert await asyncio.wait_for(queued, WAIT) == "s/2"
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert runs.started == [key("s", 1), key("s", 2)]
    # Once a run is over, asking again starts a new one (the run itself skips finished work).
    again = scheduler.submit(key("s", 1), live_priority(6))
    assert again is not running
    await asyncio.wait_for(again, WAIT)
    assert runs.started.count(key("s", 1)) == 2


async def test_a_queued_live_entry_is_promoted_never_demoted(
    runs: Runs, scheduler: EntryScheduler[str]
) -> None:
    scheduler.submit(key("busy", 1), live_priority(0))
    await runs.wait_started(1)
    scheduler.submit(key("a", 1), live_priority(1))
    scheduler.submit(key("b", 1), live_priority(2))
    scheduler.submit(key("a", 2), live_priority(3))
    assert scheduler.priority_of(key("a", 2)) == live_priority(3)
    # Session a is finalized: its queued notes move ahead of b's.
    scheduler.submit(key("a", 2), finalized_priority(0, 2))
    scheduler.submit(key("a", 1), finalized_priority(0, 1))
    assert scheduler.priority_of(key("a", 2)) == finalized_priority(0, 2)
    # A late live event for a note already promoted keeps it promoted.
    scheduler.submit(key("a", 1), live_priority(9))
    assert scheduler.priority_of(key("a", 1)) == finalized_priority(0, 1)
    assert scheduler.queued() == [key("a", 1), key("a", 2), key("b", 1)]
    runs.release()
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert runs.started == [key("busy", 1), key("a", 1), key("a", 2), key("b", 1)]
    assert len(runs.started) == len(set(runs.started))  # the stale heap items ran nothing


async def test_a_failing_run_fails_its_future_and_the_workers_go_on(
    runs: Runs, scheduler: EntryScheduler[str]
) -> None:
    runs.fail.add(key("s", 1))
    runs.release()
    broken = scheduler.submit(key("s", 1), live_priority(0))
    fine = scheduler.submit(key("s", 2), live_priority(1))
    with pytest.raises(RuntimeError, match="broken"):
        await asyncio.wait_for(broken, WAIT)
    assert await asyncio.wait_for(fine, WAIT) == "s/2"
    # Nobody awaited a live run that failed: no "exception never retrieved" either way.
    lone = scheduler.submit(key("s", 3), live_priority(2))
    runs.fail.add(key("s", 3))
    await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    assert lone.done()


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_no_more_runs_at_once_than_the_concurrency(runs: Runs, concurrency: int) -> None:
    scheduler = await started(runs, concurrency)
    try:
        for n in range(8):
            scheduler.submit(key("s", n + 1), live_priority(n))
        await runs.wait_started(concurrency)
        assert runs.running == concurrency
        runs.release()
        await asyncio.wait_for(scheduler.wait_idle(), WAIT)
    finally:
        await scheduler.stop()
    assert runs.peak == concurrency
    assert len(runs.started) == 8


async def test_stop_cancels_runs_under_way(runs: Runs) -> None:
    scheduler = await started(runs)
    running = scheduler.submit(key("s", 1), live_priority(0))
    queued = scheduler.submit(key("s", 2), live_priority(1))
    await runs.wait_started(1)
    await asyncio.wait_for(scheduler.stop(), WAIT)
    assert running.cancelled()
    assert queued.cancelled()
    assert runs.running == 0
