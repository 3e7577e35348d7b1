"""/get tries a few times, then tells the chat to ask again: it never retries without end
while it holds the chat's turn."""

from __future__ import annotations

from datetime import UTC

import pytest
from aiogram import Bot

from bot import library_texts as lt
from bot.handlers.library import label_of
from bot.services.delivery import RESEND_ATTEMPTS, Courier
from library.index import SessionLibrary
from sessions import FileSessionManager
from tests.bot.test_handlers import Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.bot.test_library_handlers import library as library  # the fixture, reused
from tests.bot.test_library_handlers import transcribed_session

pytestmark = pytest.mark.timeout(60)


async def no_sleep(_: float) -> None:
    return None


def send_message_calls(harness: Harness) -> int:
    return sum(name == "sendMessage" for name, _ in harness.fake.calls)


async def test_get_gives_up_after_a_few_tries_and_says_to_ask_again(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager, bot: Bot
) -> None:
    harness.dp["courier"] = Courier(bot, manager, sleep=no_sleep)
    sid = await transcribed_session(manager, "the walrus keeps a secret")
    session = await manager.get_session(sid)
    assert session is not None
    harness.fake.fail_next("sendMessage", status=502, count=RESEND_ATTEMPTS)
    before = send_message_calls(harness)
    await harness.text(f"/get {sid}")  # returns: the update is done, the turn released
    assert send_message_calls(harness) - before == RESEND_ATTEMPTS + 1
    label = await label_of(manager, session, UTC)
    assert harness.replies()[-1] == lt.resend_failed(session, label)
    assert not [t for t in harness.replies() if t.startswith("Transcript: ")]

    await harness.text(f"/get {sid}")  # asked again, with Telegram answering again
    assert "keeps a secret" in harness.replies()[-1]
