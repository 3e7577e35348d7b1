"""The inbox: updates kept on disk before Telegram is told, handled once across crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot

from bot.updates.inbox import INBOX_NAME, UpdateInbox
from bot.updates.journal import UpdateJournal
from tests.bot.bot_process import REPO
from tests.bot.test_polling import (
    BOT_ID,
    Handler,
    Running,
    eventually,
    held_on_disk,
    text_update,
)
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def pollers() -> AsyncIterator[Running]:
    started = Running()
    yield started
    for poller, task in started.pollers:
        poller.stop()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def journal(tmp_path: Path) -> UpdateJournal:
    journal = UpdateJournal(tmp_path / ".telegram" / "updates.json")
    await journal.load(BOT_ID)
    return journal


async def test_updates_come_back_in_the_order_stored_and_only_for_their_bot(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inbox.sqlite3"
    other = UpdateInbox(path)
    await other.open(999)
    await other.store([text_update(7, 1, "another bot's")])
    await other.close()

    inbox = UpdateInbox(path, limit=3)
    assert await inbox.open(BOT_ID) == []
    await inbox.store([text_update(12, 1, "b"), text_update(3, 2, "a")])  # ids restarted
    assert inbox.holds(12)
    assert inbox.room == 1
    await inbox.remove(12)
    await inbox.store([text_update(13, 1, "c")])
    await inbox.close()
    assert path.stat().st_mode & 0o777 == 0o600

    reopened = UpdateInbox(path)
    held = await reopened.open(BOT_ID)
    assert [(u["update_id"], u["message"]["text"]) for u in held] == [(3, "a"), (13, "c")]
    await reopened.close()
    again = UpdateInbox(path)
    assert [u["update_id"] for u in await again.open(999)] == [7]  # kept for its own bot
    await again.close()


async def test_removals_leave_stores_synced_and_are_kept_across_a_close(tmp_path: Path) -> None:
    """Removals skip the fsync (a lost one is handled again and recognised by the journal);
    the connection is back to synced commits for the next stored batch, and a removal is
    kept once the inbox is closed without another store."""
    path = tmp_path / "inbox.sqlite3"
    inbox = UpdateInbox(path)
    await inbox.open(BOT_ID)
    assert inbox._connection().execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    await inbox.store([text_update(1, 1, "a"), text_update(2, 1, "b")])
    await inbox.remove(1)
    assert inbox._connection().execute("PRAGMA synchronous").fetchone() == (2,)
    await inbox.close()
    reopened = UpdateInbox(path)
    assert [u["update_id"] for u in await reopened.open(BOT_ID)] == [2]
    await reopened.close()


async def test_an_unreadable_inbox_is_set_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    path.write_bytes(b"this is not an SQLite database, not at all" * 100)
    inbox = UpdateInbox(path)
    assert await inbox.open(BOT_ID) == []
    await inbox.store([text_update(1, 1, "x")])
    await inbox.close()
    assert [p.name for p in tmp_path.glob("inbox.sqlite3.corrupt-*")]


CRASH_AFTER_STORE = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from pathlib import Path
    from bot.updates.inbox import UpdateInbox

    async def main() -> None:
        inbox = UpdateInbox(Path(sys.argv[1]))
        await inbox.open(int(sys.argv[2]))
        await inbox.store([json.loads(sys.argv[3])])
        os.kill(os.getpid(), signal.SIGKILL)  # before the update could be handled

    asyncio.run(main())
    """
)


async def test_a_crash_between_storing_and_handling_runs_the_update_once_at_the_next_start(
    fake: FakeTelegram, bot: Bot, handler: Handler, journal: UpdateJournal, pollers: Running
) -> None:
    raw = text_update(40, 1, "kept")
    inbox_path = journal.path.with_name(INBOX_NAME)
    child = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CRASH_AFTER_STORE, str(inbox_path), str(BOT_ID), json.dumps(raw)],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert held_on_disk(journal.path) == [40]
    fake.push_update(raw)  # the crash came before the poll that would have confirmed it
    after = fake.text(2, 2, "after")

    poller, task = pollers.start(bot, handler, journal)
    await eventually(lambda: {"kept", "after"} <= set(handler.finished))
    await fake.wait_confirmed(after)
    await eventually(lambda: held_on_disk(journal.path) == [])
    poller.stop()
    await asyncio.wait_for(task, 5)

    restarted = UpdateJournal(journal.path)
    await restarted.load(BOT_ID)
    pollers.start(bot, handler, restarted)
    fake.text(3, 3, "later")
    await eventually(lambda: "later" in handler.finished)
    assert sorted(handler.started) == ["after", "kept", "later"]  # each once, never twice


async def test_a_crash_between_the_journal_write_and_the_removal_does_not_run_it_again(
    fake: FakeTelegram, bot: Bot, handler: Handler, journal: UpdateJournal, pollers: Running
) -> None:
    inbox = UpdateInbox(journal.path.with_name(INBOX_NAME))
    await inbox.open(BOT_ID)
    await inbox.store([text_update(50, 1, "done before")])
    await inbox.close()
    await journal.record(50)  # handled; the crash came before it left the inbox

    pollers.start(bot, handler, journal)
    await eventually(lambda: held_on_disk(journal.path) == [])
    after = fake.text(2, 2, "after")
    await eventually(lambda: "after" in handler.finished)
    await fake.wait_confirmed(after)
    assert handler.started == ["after"]


async def test_a_full_inbox_fetches_nothing_more_until_room_is_made(
    fake: FakeTelegram, bot: Bot, handler: Handler, journal: UpdateJournal, pollers: Running
) -> None:
    gates = [handler.gate(f"slow {n}") for n in range(2)]
    first = [fake.text(10 + n, 10 + n, f"slow {n}") for n in range(2)]
    inbox = UpdateInbox(journal.path.with_name(INBOX_NAME), limit=2)
    pollers.start(bot, handler, journal, inbox=inbox)
    await eventually(lambda: len(handler.started) == 2)
    waiting = [fake.text(20 + n, 20 + n, f"waits {n}") for n in range(3)]
    await fake.wait_confirmed(first[-1])
    await asyncio.sleep(0.3)
    # Not fetched, so not confirmed: Telegram keeps them while the inbox is full.
    assert fake.confirmed_offset <= waiting[0]
    assert handler.started == ["slow 0", "slow 1"]
    assert held_on_disk(journal.path) == first

    gates[0].set()
    await eventually(lambda: len(handler.finished) >= 3)
    gates[1].set()
    await eventually(lambda: len(handler.finished) == 5)
    await fake.wait_confirmed(waiting[-1])
    assert sorted(handler.finished) == sorted(["slow 0", "slow 1", "waits 0", "waits 1", "waits 2"])
