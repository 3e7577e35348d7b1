"""ReliablePoller against the fake Bot API: confirm an update only once it is handled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.updates.inbox import INBOX_NAME, UpdateInbox
from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering
from bot.updates.polling import ReliablePoller
from bot.updates.runner import UpdateRunner
from tests.bot.conftest import close_bot, make_bot
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(30)


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


def held_on_disk(journal_path: Path) -> list[int]:
    """The update ids the inbox beside ``journal_path`` holds, read as a restart would."""
    path = journal_path.with_name(INBOX_NAME)
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT update_id FROM held ORDER BY seq")]


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


async def test_a_slow_update_is_confirmed_once_stored_and_holds_back_no_other_chat(
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
    # Confirmed to Telegram while it is still being handled: it is in the inbox, on disk.
    await fake.wait_confirmed(slow)
    assert held_on_disk(journal.path) == [slow]
    assert not journal.is_handled(slow)

    # More than one getUpdates batch from other chats, while "slow" is still running.
    others = [fake.text(100 + n, 100 + n, f"other {n}") for n in range(150)]
    await eventually(lambda: len(handler.finished) == 150)
    await fake.wait_confirmed(others[-1])
    await eventually(lambda: held_on_disk(journal.path) == [slow])
    assert "slow" not in handler.finished

    slow_gate.set()
    await eventually(lambda: "slow" in handler.finished)
    await eventually(lambda: held_on_disk(journal.path) == [])
    assert handler.started.count("slow") == 1
    # ... and durably: a restarted bot reads the same from the file.
    await eventually(lambda: {slow, others[-1]} <= handled_on_disk(journal.path))
    stored = UpdateJournal(journal.path)
    await stored.load(BOT_ID)
    assert stored.is_handled(slow)
    assert not stored.is_handled(others[-1] + 1)


class BlockedInbox(UpdateInbox):
    """Durable inserts wait until the test lets them through, as on a stalled disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.waiting = threading.Event()

    def _insert(self, rows: list[tuple[int, str]]) -> None:
        self.waiting.set()
        self.release.wait(30)
        super()._insert(rows)


async def test_an_update_is_confirmed_only_once_it_is_on_disk_in_the_inbox(
    fake: FakeTelegram, bot: Bot, handler: Handler, journal: UpdateJournal, running: Running
) -> None:
    inbox = BlockedInbox(journal.path.with_name(INBOX_NAME))
    update_id = fake.text(1, 1, "one")
    running.start(bot, handler, journal, inbox=inbox)
    await eventually(inbox.waiting.is_set)
    await asyncio.sleep(0.3)  # time enough for another poll, were one made
    assert fake.confirmed_offset <= update_id  # a crash now: Telegram still has it
    assert handler.started == []  # handled only from the inbox
    inbox.release.set()
    await eventually(lambda: "one" in handler.finished)
    await fake.wait_confirmed(update_id)


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


async def test_stop_cuts_off_a_stuck_handler_and_the_next_start_runs_it_from_the_inbox(
    fake: FakeTelegram,
    bot: Bot,
    handler: Handler,
    journal: UpdateJournal,
    running: Running,
) -> None:
    gate = handler.gate("stuck")  # not released before the stop
    stuck = fake.text(1, 1, "stuck")
    poller = make_poller(bot, handler, journal, poll_timeout=30, grace_seconds=0.2)
    task = asyncio.create_task(poller.run())
    await eventually(lambda: "stuck" in handler.started)
    await fake.wait_confirmed(stuck)  # Telegram will not send it again: the inbox has it
    started = time.monotonic()
    poller.stop()
    await asyncio.wait_for(task, 2)
    assert time.monotonic() - started < 2
    # Cut off means not handled: it stays in the inbox for the next start.
    assert held_on_disk(journal.path) == [stuck]
    assert not journal.is_handled(stuck)
    assert "stuck" not in handler.finished

    gate.set()
    restarted = UpdateJournal(journal.path)
    await restarted.load(BOT_ID)
    running.start(bot, handler, restarted)
    await eventually(lambda: "stuck" in handler.finished)
    await eventually(lambda: held_on_disk(journal.path) == [])
    assert handler.started == ["stuck", "stuck"]  # cut off once, then run to its end once
    assert handler.finished == ["stuck"]


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


async def test_an_update_leaves_the_inbox_only_once_its_journal_write_is_durable(
    fake: FakeTelegram, bot: Bot, handler: Handler, tmp_path: Path, running: Running
) -> None:
    journal = BlockedJournal(tmp_path / "journal.json")
    await journal.load(BOT_ID)
    update_id = fake.text(1, 1, "one")
    running.start(bot, handler, journal)
    await eventually(lambda: "one" in handler.finished)
    await asyncio.sleep(0.3)  # time enough to remove it, were that allowed
    # A crash now re-runs it from the inbox: the journal does not say it was handled.
    assert held_on_disk(journal.path) == [update_id]
    journal.release.set()
    await eventually(lambda: held_on_disk(journal.path) == [])
    assert update_id in handled_on_disk(journal.path)
