"""Webhook mode stops taking updates before it drains the ones in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot

from bot.updates.inbox import UpdateInbox
from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering
from bot.updates.runner import UpdateRunner
from bot.updates.webhook import SECRET_HEADER, WebhookServer, run_webhook
from tests.bot.test_polling import BOT_ID, Handler, eventually, text_update
from tests.fake_telegram import FakeTelegram
from tests.redis_server import free_port

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cret"
GRACE = 4.0


@dataclass
class Served:
    url: str
    handler: Handler
    journal: UpdateJournal
    stopping: asyncio.Event
    task: asyncio.Task[None]


@pytest.fixture
def left_in_inbox() -> list[dict[str, object]]:
    """Updates a crash left in the inbox before the webhook starts (none unless a test says)."""
    return []


@pytest.fixture
async def served(
    fake: FakeTelegram, bot: Bot, tmp_path: Path, left_in_inbox: list[dict[str, object]]
) -> AsyncIterator[Served]:
    handler = Handler()
    journal = UpdateJournal(tmp_path / "updates.json")
    await journal.load(BOT_ID)
    if left_in_inbox:
        inbox = UpdateInbox.beside(journal.path)
        await inbox.open(BOT_ID)
        await inbox.store(left_in_inbox)
        await inbox.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    server = WebhookServer(
        UpdateRunner(bot, handler.dp, ChatOrdering(), journal), url=url, secret=SECRET
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(
        run_webhook(
            server,
            url=url,
            secret=SECRET,
            host="127.0.0.1",
            port=port,
            max_connections=1,
            stopping=stopping,
            grace_seconds=GRACE,
            api=fake.base_url,
        )
    )
    await fake.wait_called("setWebhook")
    yield Served(url, handler, journal, stopping, task)
    stopping.set()
    for gate in handler.gates.values():
        gate.set()
    await asyncio.wait_for(task, 90)


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, object]) -> int:
    timeout = aiohttp.ClientTimeout(total=5)
    async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}, timeout=timeout) as r:
        return r.status


async def test_a_stop_takes_no_new_update_and_ends_once_the_one_in_flight_is_handled(
    served: Served,
) -> None:
    handler = served.handler
    in_flight = handler.gate("in flight")
    handler.gate("late")  # would hold the shutdown for aiohttp's minute, were it taken
    async with aiohttp.ClientSession() as kept, aiohttp.ClientSession() as other:
        assert await post(kept, served.url, text_update(1, 1, "warm")) == 200  # kept alive
        first = asyncio.create_task(post(other, served.url, text_update(2, 2, "in flight")))
        await eventually(lambda: "in flight" in handler.started)

        stopped_at = time.monotonic()
        served.stopping.set()  # SIGTERM
        await asyncio.sleep(0.2)
        # Telegram sends the next update on its open connection: refused, so it comes again.
        assert await post(kept, served.url, text_update(3, 3, "late")) == 503
        in_flight.set()
        assert await first == 200  # handled within the grace period, and answered
        await asyncio.wait_for(served.task, GRACE)
    assert time.monotonic() - stopped_at < GRACE  # not aiohttp's 60 s cleanup
    assert "late" not in handler.started
    assert handler.finished == ["warm", "in flight"]
    assert served.journal.is_handled(2)
    assert not served.journal.is_handled(3)


async def test_an_update_cut_off_at_the_end_of_the_grace_period_is_answered_503(
    served: Served,
) -> None:
    served.handler.gate("stuck")  # never released in time
    async with aiohttp.ClientSession() as http:
        stuck = asyncio.create_task(post(http, served.url, text_update(1, 1, "stuck")))
        await eventually(lambda: "stuck" in served.handler.started)
        stopped_at = time.monotonic()
        served.stopping.set()
        assert await stuck == 503  # not handled: Telegram sends it again
        await asyncio.wait_for(served.task, GRACE + 2)
    assert time.monotonic() - stopped_at < GRACE + 2
    assert not served.journal.is_handled(1)


@pytest.mark.parametrize("left_in_inbox", [[text_update(9, 1, "left by a crash")]])
async def test_updates_a_crash_left_in_the_inbox_are_handled_in_webhook_mode_too(
    served: Served,
) -> None:
    await eventually(lambda: served.handler.finished == ["left by a crash"])
    await eventually(lambda: served.journal.is_handled(9))
