"""A chat's next update waits until the one before it is durably recorded as handled."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Message, Update

from bot.updates.journal import UpdateJournal
from bot.updates.middleware import OrderingMiddleware
from bot.updates.ordering import ChatOrdering
from bot.updates.runner import UpdateRunner
from tests.bot.test_polling import BOT_ID, eventually, text_update

pytestmark = pytest.mark.timeout(30)


class BlockedJournal(UpdateJournal):
    """Durable writes wait until the test lets them through, as on a slow disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()
        self.writing = threading.Event()

    def _write(self, payload: bytes) -> None:
        self.writing.set()
        self.release.wait(30)
        super()._write(payload)


async def test_done_waits_until_the_note_before_it_is_in_the_journal(
    bot: Bot, tmp_path: Path
) -> None:
    # Were /done let in while the note's journal write is pending, it could finalize the
    # session, and a crash then would bring the note back into the next session.
    ordering = ChatOrdering()
    journal = BlockedJournal(tmp_path / "updates.json")
    await journal.load(BOT_ID)
    started: list[str] = []
    dp = Dispatcher()
    dp.message.middleware(OrderingMiddleware(ordering))

    async def handle(message: Message) -> None:
        started.append(message.text or "")

    dp.message.register(handle)
    runner = UpdateRunner(bot, dp, ordering, journal)
    note, done = (
        Update.model_validate(text_update(1, 7, "a note", message_id=1), context={"bot": bot}),
        Update.model_validate(text_update(2, 7, "/done", message_id=2), context={"bot": bot}),
    )
    runner.accept(note)
    runner.accept(done)

    await eventually(journal.writing.is_set)  # the note is handled; its record is pending
    await asyncio.sleep(0.3)
    assert started == ["a note"]  # /done still waits for its turn
    journal.release.set()
    await eventually(lambda: started == ["a note", "/done"])
    await runner.drain(5)
    assert journal.is_handled(1)
    assert journal.is_handled(2)
