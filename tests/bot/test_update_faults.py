"""The update path under a misbehaving Bot API: poison updates, HTML, 409, 429, backoff,
update ids that restart lower, a server that hangs while stopping."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiohttp import web
from structlog.testing import capture_logs

from bot.updates.connect import Backoff
from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering
from bot.updates.polling import ReliablePoller
from bot.updates.runner import UpdateRunner
from bot.updates.webhook import SECRET_HEADER, WebhookServer
from tests.bot.test_polling import BOT_ID, Handler, eventually, make_poller, text_update
from tests.fake_telegram import FakeTelegram
from tests.redis_server import free_port

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
async def journal(tmp_path: Path) -> UpdateJournal:
    journal = UpdateJournal(tmp_path / "updates.json")
    await journal.load(BOT_ID)
    return journal


class Pollers:
    """Pollers started by a test, on one bot, dispatcher and journal; stopped at the end."""

    def __init__(self, bot: Bot, handler: Handler, journal: UpdateJournal) -> None:
        self.bot, self.handler, self.journal = bot, handler, journal
        self.running: list[tuple[ReliablePoller, asyncio.Task[None]]] = []

    def start(self, **kwargs: Any) -> ReliablePoller:
        kwargs.setdefault("poll_timeout", 20)
        kwargs.setdefault("backoff", Backoff(first=0.05))
        poller = make_poller(self.bot, self.handler, self.journal, **kwargs)
        self.running.append((poller, asyncio.create_task(poller.run())))
        return poller

    async def stop(self) -> None:
        for poller, task in self.running:
            poller.stop()
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def polling(bot: Bot, handler: Handler, journal: UpdateJournal) -> AsyncIterator[Pollers]:
    pollers = Pollers(bot, handler, journal)
    yield pollers
    await pollers.stop()


def poison_voice(fake: FakeTelegram, chat: int) -> int:
    """A voice note aiogram cannot parse: Telegram once sent ``duration: null``."""
    message = {
        "message_id": 99,
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "U"},
        "from": {"id": chat, "is_bot": False, "first_name": "U"},
        "voice": {"file_id": "AwAC-poison", "file_unique_id": "P1", "duration": None},
    }
    return fake.push_update({"message": message})


def gaps(fake: FakeTelegram, method: str) -> list[float]:
    times = [t for name, t in fake.calls if name == method]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_poison_update_is_logged_and_skipped_while_others_are_handled(
    fake: FakeTelegram, handler: Handler, journal: UpdateJournal, polling: Pollers
) -> None:
    fake.text(1, 1, "before")
    poison = poison_voice(fake, 2)
    after = fake.text(3, 3, "after")
    with capture_logs() as logs:
        polling.start()
        await eventually(lambda: {"before", "after"} <= set(handler.finished))
        await fake.wait_confirmed(after)
    [event] = [e for e in logs if e["event"] == "update_unparseable"]
    assert event["update_id"] == poison
    assert '"duration": null' in event["update"]
    assert "message.voice.duration" in event["problems"]
    assert journal.is_handled(poison)  # a restart does not trip on it again
    assert fake.pending_updates() == []


async def test_html_and_conflict_answers_do_not_stop_polling(
    fake: FakeTelegram, handler: Handler, polling: Pollers
) -> None:
    fake.fail_next("getUpdates", status=502, html=True)
    fake.fail_next("getUpdates", status=200, html=True)
    fake.fail_next("getUpdates", status=409)
    fake.text(1, 1, "still here")
    with capture_logs() as logs:
        polling.start()
        await eventually(lambda: "still here" in handler.finished)
    failures = [e["error"] for e in logs if e["event"] == "poll_failed"]
    assert failures == [
        "the answer was not JSON (an HTML page from a proxy?)",
        "the answer was not JSON (an HTML page from a proxy?)",
        "409 Conflict (another instance polling with this token, or a webhook set)",
    ]


async def test_poller_backoff_doubles(
    fake: FakeTelegram, handler: Handler, polling: Pollers
) -> None:
    fake.fail_next("getUpdates", status=502, count=3)
    fake.text(1, 1, "after the outage")
    polling.start(backoff=Backoff(first=0.2, cap=10))
    await eventually(lambda: "after the outage" in handler.finished)
    first, second, third = gaps(fake, "getUpdates")[:3]
    assert first >= 0.2
    assert second >= 0.4
    assert third >= 0.8  # a constant delay would retry after 0.2 s


async def test_poller_waits_out_retry_after(
    fake: FakeTelegram, handler: Handler, polling: Pollers
) -> None:
    fake.fail_next("getUpdates", status=429, retry_after=2)
    fake.text(1, 1, "later")
    polling.start()
    await eventually(lambda: "later" in handler.finished, timeout=10)
    assert gaps(fake, "getUpdates")[0] >= 2  # not at once, not after the 0.05 s backoff


async def test_update_ids_restarting_lower_are_handled(
    fake: FakeTelegram, handler: Handler, journal: UpdateJournal, polling: Pollers
) -> None:
    fake.reset_update_ids(1000)
    high = fake.text(1, 1, "high")
    with capture_logs() as logs:
        polling.start()
        await eventually(lambda: "high" in handler.finished)
        await fake.wait_confirmed(high)
        fake.reset_update_ids(10)  # a week without updates: Telegram numbers afresh
        low = fake.text(1, 1, "low")
        await eventually(lambda: "low" in handler.finished)
        await fake.wait_confirmed(low)
    assert "update_id_reset" in [e["event"] for e in logs]
    fake.text(1, 1, "next")
    await eventually(lambda: "next" in handler.finished)
    assert handler.finished == ["high", "low", "next"]


async def test_restart_with_a_journal_of_higher_ids_sends_no_stale_offset(
    fake: FakeTelegram, handler: Handler, journal: UpdateJournal, polling: Pollers
) -> None:
    await journal.record(5000)  # a run long ago, or under another numbering
    low = fake.text(1, 1, "new numbering")  # update id 1
    with capture_logs() as logs:
        polling.start()
        await eventually(lambda: "new numbering" in handler.finished)
        await fake.wait_confirmed(low)
    resets = [e for e in logs if e["event"] == "update_id_reset"]
    assert [(e["update_id"], e["highest_handled"]) for e in resets] == [(low, 5000)]


async def test_stop_is_bounded_when_the_server_hangs(
    fake: FakeTelegram, bot: Bot, handler: Handler, journal: UpdateJournal
) -> None:
    gate = handler.gate("slow")
    slow = fake.text(1, 1, "slow")
    poller = make_poller(bot, handler, journal, poll_timeout=20, grace_seconds=0.5)
    task = asyncio.create_task(poller.run())
    await eventually(lambda: "slow" in handler.started)
    fake.hang("*")  # from now on nothing answers, not even the last confirmation
    # The poll after the one that brought "slow" (the inbox confirms at once): a long poll
    # already under way, or one made now that hangs. Either way the poller is in a call.
    await eventually(lambda: sum(name == "getUpdates" for name, _ in fake.calls) >= 2)
    started = time.monotonic()
    poller.stop()
    gate.set()  # finishes within the grace period
    await asyncio.wait_for(task, 10)
    # grace (0.5) + the last call's deadline (1.5) + slack for a busy machine; not the
    # 60 s a hung call would take without a deadline
    assert time.monotonic() - started < 5
    assert handler.finished == ["slow"]
    assert journal.is_handled(slow)


async def test_webhook_answers_a_poison_update_and_goes_on(
    bot: Bot, handler: Handler, journal: UpdateJournal
) -> None:
    runner = UpdateRunner(bot, handler.dp, ChatOrdering(), journal)
    server = WebhookServer(runner, url="https://example.org/hook", secret="s3cret")
    site_runner = web.AppRunner(server.application())
    await site_runner.setup()
    port = free_port()
    await web.TCPSite(site_runner, "127.0.0.1", port).start()
    poison = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1,
            "chat": {"id": 1, "type": "private"},
            "voice": {"file_id": "f", "file_unique_id": "u", "duration": None},
        },
    }
    url = f"http://127.0.0.1:{port}/hook"
    headers = {SECRET_HEADER: "s3cret"}
    try:
        async with aiohttp.ClientSession() as http:
            with capture_logs() as logs:
                answer = await http.post(url, json=poison, headers=headers)
                assert answer.status == 200  # else Telegram sends it again, for ever
                answer = await http.post(url, json=text_update(8, 1, "fine"), headers=headers)
                assert answer.status == 200
        assert [e["update_id"] for e in logs if e["event"] == "update_unparseable"] == [7]
        assert handler.finished == ["fine"]
        await eventually(lambda: journal.is_handled(7))
    finally:
        await site_runner.cleanup()
