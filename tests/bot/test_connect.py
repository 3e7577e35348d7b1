"""Reaching the Bot API at start: retried with a doubling delay, stoppable, final only for
a refused token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramUnauthorizedError
from structlog.testing import capture_logs

from bot import texts
from bot.config import BotSettings
from bot.startup import connect, describe_bot
from bot.updates.connect import Backoff, until_answered
from tests.bot.conftest import close_bot, make_bot
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(30)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first=1, cap=60)
    assert [backoff.next() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    backoff.reset()
    assert backoff.next() == 1


async def test_retried_until_the_server_answers(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("getMe", status=502, html=True)
    fake.fail_next("getMe", status=500)
    with capture_logs() as logs:
        me = await until_answered(
            bot.get_me,
            what="getMe",
            api=fake.base_url,
            stopping=asyncio.Event(),
            backoff=Backoff(first=0.05),
        )
    assert me is not None
    assert me.id == 123456
    lines = [e for e in logs if e["event"] == "telegram_unreachable"]
    assert [(e["api"], e["call"], e["retry_in"]) for e in lines] == [
        (fake.base_url, "getMe", 0.05),
        (fake.base_url, "getMe", 0.1),
    ]
    assert all(fake.token not in str(e) for e in logs)


async def test_a_refused_token_is_final(fake: FakeTelegram) -> None:
    intruder = make_bot(fake, "654321:WRONG-token")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await until_answered(
                intruder.get_me, what="getMe", api=fake.base_url, stopping=asyncio.Event()
            )
    finally:
        await close_bot(intruder)


async def test_a_stop_ends_the_wait(fake: FakeTelegram, bot: Bot) -> None:
    fake.hang("getMe")
    stopping = asyncio.Event()
    waiting = asyncio.create_task(
        until_answered(bot.get_me, what="getMe", api=fake.base_url, stopping=stopping)
    )
    await fake.wait_called("getMe")
    stopping.set()
    assert await asyncio.wait_for(waiting, 5) is None


async def test_connect_sets_the_description_until_answered(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty chat says what the bot does: its description and short description are set
    at start, and a failed attempt is tried again."""
    monkeypatch.chdir(tmp_path)  # no .env
    settings = BotSettings(bot_token=fake.token, telegram_api_url=fake.base_url)
    fake.fail_next("setMyDescription", status=502, html=True)
    fake.fail_next("setMyShortDescription", status=500)
    me = await connect(settings, bot, asyncio.Event())
    assert me is not None
    assert fake.description is None  # after the first poll, not before it
    assert await describe_bot(bot, asyncio.Event(), fake.base_url)
    assert fake.description == texts.DESCRIPTION
    assert fake.short_description == texts.SHORT_DESCRIPTION
    assert [c["command"] for c in fake.commands] == [c for c, _ in texts.COMMANDS]
    # English twice (the failed attempt, then again), then once for each other language.
    assert sorted(fake.by_language) == ["de", "ru"]
    assert [name for name, _ in fake.calls].count("setMyDescription") == 2 + len(fake.by_language)
    # Within Telegram's limits, and in words for people.
    assert 0 < len(texts.DESCRIPTION) <= 512
    assert 0 < len(texts.SHORT_DESCRIPTION) <= 120
    assert "/done" in texts.DESCRIPTION
    assert "speakers" not in {c["command"] for c in fake.commands}

    # The owner's DIARIZATION: /speakers in the menu, in every language.
    assert await describe_bot(bot, asyncio.Event(), fake.base_url, speakers=True)
    for listed in (fake.commands, *(fake.by_language[lang]["commands"] for lang in ("de", "ru"))):
        assert [c["command"] for c in listed][-3:] == ["speakers", "status", "help"]
    assert fake.by_language["de"]["commands"][-3]["description"] == (
        "Wer wann in einer Aufnahme spricht"
    )
