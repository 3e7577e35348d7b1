"""RetryMiddleware against the fake Bot API: 5xx, network errors and HTML pages are retried
with a doubling delay, and a 429 is waited out for its full ``retry_after``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.middlewares.retry import RetryMiddleware
from tests.bot.conftest import close_bot, make_bot
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def retrying(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    bot.session.middleware(RetryMiddleware(attempts=5, base_delay=0.2))
    yield bot
    await close_bot(bot)


def gaps(fake: FakeTelegram, method: str) -> list[float]:
    times = [t for name, t in fake.calls if name == method]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_server_errors_are_retried_with_a_doubling_delay(
    fake: FakeTelegram, retrying: Bot
) -> None:
    fake.fail_next("sendMessage", status=502, count=2)
    fake.fail_next("sendMessage", status=500)
    await retrying.send_message(1, "hello")
    assert fake.texts(1) == ["hello"]
    first, second, third = gaps(fake, "sendMessage")
    assert first >= 0.2
    assert second >= 0.4
    assert third >= 0.8


async def test_a_proxy_html_page_is_retried(fake: FakeTelegram, retrying: Bot) -> None:
    fake.fail_next("sendMessage", status=502, html=True)
    await retrying.send_message(1, "through the proxy")
    assert fake.texts(1) == ["through the proxy"]


async def test_a_network_error_is_retried(fake: FakeTelegram, retrying: Bot) -> None:
    fake.hang("sendMessage", count=1)  # the first attempt times out
    await retrying.send_message(1, "after a timeout", request_timeout=1)
    assert fake.texts(1) == ["after a timeout"]
    assert [name for name, _ in fake.calls].count("sendMessage") == 2


async def test_429_is_waited_out_for_its_retry_after(fake: FakeTelegram, retrying: Bot) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=2)
    await retrying.send_message(1, "patient")
    assert fake.texts(1) == ["patient"]
    [waited] = gaps(fake, "sendMessage")
    assert waited >= 2  # not at once, not after the 0.2 s backoff


async def test_a_bad_request_is_not_retried(fake: FakeTelegram, retrying: Bot) -> None:
    with pytest.raises(TelegramBadRequest):
        await retrying.send_message(1, "")
    assert [name for name, _ in fake.calls] == ["sendMessage"]
