"""A message kept up to date: edits at most every interval, and the newest text wins.

Over real HTTP to the fake Bot API, which can hold an edit in flight.
"""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot

from bot.services.live_message import LiveMessage
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)

CHAT = 7


async def test_updates_during_an_edit_wait_for_the_interval(fake: FakeTelegram, bot: Bot) -> None:
    interval = 0.3 * TIMEOUT_SCALE
    message = LiveMessage(bot, CHAT, interval)
    assert await message.send("start")
    fake.hang("editMessageText", count=1)
    first = asyncio.create_task(message.update("a"))  # after the interval; then held in flight
    await fake.wait_called("editMessageText", timeout=10)
    # Two more texts while that edit is under way: neither edits now, the newest follows.
    await asyncio.wait_for(message.update("b"), 5 * TIMEOUT_SCALE)
    await asyncio.wait_for(message.update("c"), 5 * TIMEOUT_SCALE)
    fake.release()
    await asyncio.wait_for(first, 10 * TIMEOUT_SCALE)
    edits = [c for c in fake.sent if c.method == "editMessageText"]
    assert [c.text for c in edits] == ["a", "c"]
    assert edits[1].timestamp - edits[0].timestamp >= interval * 0.9


async def test_finish_replaces_an_edit_still_waiting(fake: FakeTelegram, bot: Bot) -> None:
    message = LiveMessage(bot, CHAT, interval=60)  # an update would wait a minute
    assert await message.send("start")
    waiting = asyncio.create_task(message.update("progress"))
    await asyncio.sleep(0)  # it is now waiting for its turn
    assert await message.finish("done")
    await asyncio.gather(waiting, return_exceptions=True)
    assert waiting.cancelled()
    assert [c.text for c in fake.sent if c.method == "editMessageText"] == ["done"]
    assert not await message.send("again")  # sent once, ever
