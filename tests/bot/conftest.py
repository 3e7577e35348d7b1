"""Fixtures for the bot's tests: the fake Bot API server and a real aiogram Bot on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.utils.i18n import I18n

from bot.i18n import build_i18n, speaking
from tests.bot.bot_process import BotProcess
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    """A real aiogram Bot pointed at ``fake``."""
    api = TelegramAPIServer.from_base(fake.base_url)
    return Bot(token or fake.token, session=AiohttpSession(api=api))


async def close_bot(bot: Bot) -> None:
    """Close the bot's HTTP session, without aiogram's 0.25 s wait for TLS to wind down
    (plain HTTP to the fake here; that wait would add seconds to the suite)."""
    session = bot.session
    assert isinstance(session, AiohttpSession)
    if session._session is not None:
        await session._session.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(timeout_scale=TIMEOUT_SCALE) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    bot = make_bot(fake)
    yield bot
    await close_bot(bot)


@pytest.fixture
async def running() -> AsyncIterator[list[BotProcess]]:
    """Bot processes started by a test; every one is stopped at the end."""
    started: list[BotProcess] = []
    yield started
    for proc in started:
        await proc.stop()


@pytest.fixture(scope="session")
def i18n() -> I18n:
    """The bot's catalogs, loaded once."""
    return build_i18n()


@pytest.fixture
def german(i18n: I18n) -> Iterator[None]:
    """The test runs as if a German-speaking user's update were being handled."""
    with speaking(i18n, "de"):
        yield


@pytest.fixture
def russian(i18n: I18n) -> Iterator[None]:
    """The test runs as if a Russian-speaking user's update were being handled."""
    with speaking(i18n, "ru"):
        yield
