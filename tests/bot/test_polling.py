"""ReliablePoller against the fake Bot API: confirm an update only once it is handled."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering
from bot.updates.polling import ReliablePoller
from bot.updates.runner import UpdateRunner
from tests.bot.conftest import close_bot, make_bot
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def quick_busy_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll every 50 ms (not 300) while updates are in flight: same logic, faster tests."""
    monkeypatch.setattr("bot.updates.polling.BUSY_POLL_INTERVAL", 0.05)


class Handler:
    """A dispatcher whose message handler blocks on a gate named by the message text."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.finished: list[str] = []
        self.dp = Dispatcher()
        self.dp.message.register(self.handle)

    async def handle(self, message: Message) -> None:
        text = message.text or ""
        self.started.append(text)
        if text == "boom":
            raise RuntimeError("handler bug")
        gate = self.gates.get(text)
        if gate is not None:
            await gate.wait()
        self.finished.append(text)

    def gate(self, text: str) -> asyncio.Event:
        return self.gates.setdefault(text, asyncio.Event())


@pytest.fixture
def handler() -> Handler:
    return Handler()


BOT_ID = 123456  # the fake's default token's bot id


@pytest.fixture
async def journal(tmp_path: Path) -> UpdateJournal:
    journal = UpdateJournal(tmp_path / ".telegram" / "updates.json")
    await journal.load(BOT_ID)
    return journal


def make_poller(
    bot: Bot, handler: Handler, journal: UpdateJournal, **kwargs: Any
) -> ReliablePoller:
    """A poller feeding one runner, as the app builds it."""
    return ReliablePoller(UpdateRunner(bot, handler.dp, ChatOrdering(), journal), **kwargs)


def handled_on_disk(path: Path) -> set[int]:
    return {int(i) for i, _ in on_disk(path).get("handled", [])}


class Running:
    """Pollers started by a test; each is stopped (and must stop) at the end."""

    def __init__(self) -> None:
        self.pollers: list[tuple[ReliablePoller, asyncio.Task[None]]] = []

    def start(
        self, bot: Bot, handler: Handler, journal: UpdateJournal, **kwargs: Any
    ) -> tuple[ReliablePoller, asyncio.Task[None]]:
        kwargs.setdefault("poll_timeout", 20)
        kwargs.setdefault("grace_seconds", 1.0)
        poller = make_poller(bot, handler, journal, **kwargs)
        task = asyncio.create_task(poller.run())
        self.pollers.append((poller, task))
        return poller, task


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    pollers = Running()
    yield pollers
    for poller, task in pollers.pollers:
        poller.stop()
        await asyncio.wait_for(task, 5)


async def eventually(check: Callable[[], object], timeout: float = 5 * TIMEOUT_SCALE) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


def on_disk(path: Path) -> dict[str, Any]:
    """The journal file's content (written atomically), or {} before the first write."""
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}


def get_updates_calls(fake: FakeTelegram) -> int:
    return sum(name == "getUpdates" for name, _ in fake.calls)


def text_update(update_id: int, chat: int, text: str, message_id: int = 1) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "User"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user,
            "chat": {"id": chat, "type": "private", "first_name": "User"},
            "date": int(time.time()),
            "text": text,
        },
    }


async def test_update_confirmed_only_after_its_handler_finishes(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
    running: Running,
) -> None:
    slow_gate = handler.gate("slow")
    slow = fake.text(1, 1, "slow")
    running.start(bot, handler, journal)
    await eventually(lambda: "slow" in handler.started)

    polls = get_updates_calls(fake)
    await eventually(lambda: get_updates_calls(fake) >= polls + 2)  # it keeps polling...
    assert fake.confirmed_offset <= slow  # ...without confirming the update in flight
    assert not journal.is_handled(slow)

    fast = fake.text(2, 2, "fast")  # another chat, while "slow" is still running
    await eventually(lambda: "fast" in handler.finished)
    assert handler.finished == ["fast"]  # handled concurrently, not after "slow"
    await eventually(lambda: journal.is_handled(fast))
    polls = get_updates_calls(fake)
    await eventually(lambda: get_updates_calls(fake) >= polls + 2)  # a busy poll or two
    assert fake.confirmed_offset <= slow  # the lowest unfinished update holds the offset
    assert [u["update_id"] for u in fake.pending_updates()] == [slow, fast]

    slow_gate.set()
    # Confirmed at once, not after the next long poll (20 s) comes back.
    await fake.wait_confirmed(fast, timeout=3)
    assert handler.finished == ["fast", "slow"]
    assert handler.started.count("slow") == 1  # not handled twice although redelivered
    assert journal.is_handled(slow)

    # ... and durably: a restarted bot reads the same from the file.
    await eventually(lambda: {slow, fast} <= handled_on_disk(journal.path))
    stored = UpdateJournal(journal.path)
    await stored.load(BOT_ID)
    assert stored.is_handled(slow)
    assert stored.is_handled(fast)
    assert not stored.is_handled(fast + 1)


async def test_handled_update_redelivered_after_a_crash_is_skipped(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
    running: Running,
) -> None:
    # The journal says 5 was handled, but Telegram never heard so (the bot died first).
    await journal.record(5)
    assert journal.is_handled(5)
    assert not journal.is_handled(4)
    fake.push_update(text_update(5, 1, "again", message_id=1))
    fake.push_update(text_update(6, 1, "new", message_id=2))

    running.start(bot, handler, journal)
    await eventually(lambda: "new" in handler.finished)
    await fake.wait_confirmed(6)
    assert handler.started == ["new"]


async def test_journal_written_by_one_poller_is_honoured_by_the_next(
    tmp_path: Path, handler: Handler, running: Running
) -> None:
    path = tmp_path / "journal.json"
    async with FakeTelegram(timeout_scale=TIMEOUT_SCALE) as first:
        bot = make_bot(first)
        journal = UpdateJournal(path)
        await journal.load(BOT_ID)
        poller, task = running.start(bot, handler, journal)
        first.text(1, 1, "once")
        await eventually(lambda: "once" in handler.finished)
        await eventually(lambda: path.is_file())
        poller.stop()
        await asyncio.wait_for(task, 5)
        await close_bot(bot)

    # A second Telegram that still has update 1 (it was never confirmed to it).
    async with FakeTelegram(timeout_scale=TIMEOUT_SCALE) as second:
        second.push_update(text_update(1, 1, "once"))
        second.push_update(text_update(2, 1, "twice", message_id=2))
        bot = make_bot(second)
        journal = UpdateJournal(path)
        await journal.load(BOT_ID)
        assert journal.is_handled(1)
        running.start(bot, handler, journal)
        await eventually(lambda: "twice" in handler.finished)
        await second.wait_confirmed(2)
        assert handler.started == ["once", "twice"]
        poller, task = running.pollers[-1]
        poller.stop()
        await asyncio.wait_for(task, 5)
        await close_bot(bot)


async def test_failing_handler_counts_as_handled(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
    running: Running,
) -> None:
    boom = fake.text(1, 1, "boom")
    after = fake.text(1, 1, "after")
    running.start(bot, handler, journal)
    await eventually(lambda: "after" in handler.finished)
    await fake.wait_confirmed(after)
    assert journal.is_handled(boom)
    assert handler.started == ["boom", "after"]  # not retried in a loop


class SlowJournal(UpdateJournal):
    """Each durable write takes a while, as on a slow disk."""

    def _write(self, payload: bytes) -> None:
        time.sleep(0.3)
        super()._write(payload)


async def test_finished_update_is_not_run_again_while_its_journal_write_waits(
    fake: FakeTelegram, bot: Bot, handler: Handler, tmp_path: Path, running: Running
) -> None:
    # "first" finishes and holds the journal for 0.3 s; "third" finishes meanwhile and waits
    # for the journal; "second" keeps the offset at its id, so every busy poll (50 ms)
    # returns "third" again. It must count as handled from the moment it finished.
    journal = SlowJournal(tmp_path / "journal.json")
    gate = handler.gate("second")
    fake.text(1, 1, "first")
    fake.text(2, 2, "second")
    third = fake.text(3, 3, "third")
    running.start(bot, handler, journal)
    await eventually(lambda: "third" in handler.finished)
    polls = get_updates_calls(fake)
    await eventually(lambda: get_updates_calls(fake) >= polls + 3)
    await eventually(lambda: journal.is_handled(third))
    gate.set()
    await fake.wait_confirmed(third)
    assert sorted(handler.started) == ["first", "second", "third"]


async def test_journal_counts_an_update_as_handled_as_soon_as_it_is_recorded(
    tmp_path: Path,
) -> None:
    journal = UpdateJournal(tmp_path / "journal.json")
    await journal.load(BOT_ID)
    async with journal._lock:  # another record is being written
        task = asyncio.create_task(journal.record(7))
        await asyncio.sleep(0.01)
        assert journal.is_handled(7)
        assert not task.done()
    await task
    stored = UpdateJournal(journal.path)
    await stored.load(BOT_ID)
    assert stored.is_handled(7)
    assert not stored.is_handled(6)


async def test_stop_returns_promptly_during_a_long_poll(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
) -> None:
    poller = make_poller(bot, handler, journal, poll_timeout=30)
    task = asyncio.create_task(poller.run())
    await fake.wait_called("getUpdates")
    await asyncio.sleep(0.2)  # now inside the 30 s long poll
    started = time.monotonic()
    poller.stop()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 2


async def test_stop_cuts_off_a_stuck_handler_and_leaves_it_unconfirmed(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
) -> None:
    handler.gate("stuck")  # never released
    stuck = fake.text(1, 1, "stuck")
    poller = make_poller(bot, handler, journal, poll_timeout=30, grace_seconds=0.2)
    task = asyncio.create_task(poller.run())
    await eventually(lambda: "stuck" in handler.started)
    started = time.monotonic()
    poller.stop()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 2
    # Cut off means not handled: Telegram must deliver it again after the restart.
    assert fake.confirmed_offset <= stuck
    assert [u["update_id"] for u in fake.pending_updates()] == [stuck]
    assert not journal.is_handled(stuck)
    assert "stuck" not in handler.finished


async def test_finished_handler_is_confirmed_on_stop(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
) -> None:
    gate = handler.gate("late")
    late = fake.text(1, 1, "late")
    poller = make_poller(bot, handler, journal, poll_timeout=30, grace_seconds=2)
    task = asyncio.create_task(poller.run())
    await eventually(lambda: "late" in handler.started)
    poller.stop()
    await asyncio.sleep(0.1)
    gate.set()  # finishes within the grace period
    await asyncio.wait_for(task, 3)
    assert handler.finished == ["late"]
    assert fake.confirmed_offset > late  # confirmed before exiting: no redelivery
    assert fake.pending_updates() == []


class BlockedJournal(UpdateJournal):
    """Durable writes wait until the test lets them through, as on a stalled disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()

    def _write(self, payload: bytes) -> None:
        self.release.wait(30)
        super()._write(payload)


async def test_an_update_is_not_confirmed_before_its_journal_write_is_durable(
    fake: FakeTelegram, bot: Bot, handler: Handler, tmp_path: Path, running: Running
) -> None:
    journal = BlockedJournal(tmp_path / "journal.json")
    await journal.load(BOT_ID)
    update_id = fake.text(1, 1, "one")
    running.start(bot, handler, journal)
    await eventually(lambda: "one" in handler.finished)
    polls = get_updates_calls(fake)
    await eventually(lambda: get_updates_calls(fake) >= polls + 2)  # polls went on meanwhile
    assert fake.confirmed_offset <= update_id  # a crash now would lose nothing
    journal.release.set()
    await fake.wait_confirmed(update_id)
    assert update_id in handled_on_disk(journal.path)
