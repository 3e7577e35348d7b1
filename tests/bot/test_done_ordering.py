"""``/done`` waits for the earlier notes of its chat, through the real update path: the
poller, the runner's tickets, the ordering middleware, the real handlers and ingestion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import build_dispatcher
from bot.config import BotSettings
from bot.services.collecting import CollectingStatus
from bot.services.ingest import IngestService
from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering
from bot.updates.polling import ReliablePoller
from bot.updates.runner import UpdateRunner
from sessions import FileSessionManager, SessionState
from tests.bot.test_polling import BOT_ID
from tests.conftest import silent_wav
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(30)

CHAT = USER = 1001


async def real_update_path(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager, tmp_path: Path
) -> ReliablePoller:
    """The bot's own update path (poller, journal, ordering, dispatcher) over ``manager``."""
    settings = BotSettings(bot_token=fake.token, allowed_user_ids=str(USER))
    ingest = IngestService(bot, manager, max_download_bytes=settings.max_download_bytes)
    ingest.attach()
    ordering = ChatOrdering()
    collecting = CollectingStatus(bot, manager)
    collecting.attach()
    dp = build_dispatcher(settings, manager, ingest, ordering, collecting)
    journal = UpdateJournal(tmp_path / "updates.json")
    await journal.load(BOT_ID)
    return ReliablePoller(UpdateRunner(bot, dp, ordering, journal), poll_timeout=5)


async def test_done_waits_for_notes_still_downloading(
    fake: FakeTelegram,
    bot: Bot,
    manager: FileSessionManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    poller = await real_update_path(fake, bot, manager, tmp_path)

    fake.delay_file(1.0)  # each download stalls half-way: /done arrives meanwhile
    first = fake.voice(CHAT, USER, file_id=fake.add_file(silent_wav(3)), duration=3)
    second = fake.voice(CHAT, USER, file_id=fake.add_file(silent_wav(4)), duration=4)
    done = fake.text(CHAT, USER, "/done")
    task = asyncio.create_task(poller.run())
    try:
        await fake.wait_confirmed(done, timeout=20)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 10)

    [session] = await manager.list_sessions(limit=5)
    assert session.state is not SessionState.COLLECTING  # /done finalized it ...
    messages = [e.message_id for e in session.audio_entries]
    assert fake.pending_updates() == []
    assert len(messages) == 2  # ... with both notes in it, in the order they were sent
    assert messages == sorted(messages)
    assert [e.sequence for e in session.audio_entries] == [1, 2]
    assert first < second < done


async def test_done_button_waits_for_notes_still_downloading(
    fake: FakeTelegram,
    bot: Bot,
    manager: FileSessionManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    poller = await real_update_path(fake, bot, manager, tmp_path)
    task = asyncio.create_task(poller.run())
    try:
        fake.voice(CHAT, USER, file_id=fake.add_file(silent_wav(3)), duration=3)
        await fake.wait_reactions(CHAT, 1, timeout=20)
        ack = await fake.wait_for(
            lambda c: (c.text or "").startswith("Recording: 1 note, 0:03."), timeout=20
        )
        [(label, data)] = ack.buttons()
        assert label == "Done"
        fake.delay_file(1.0)  # the next download stalls half-way: the tap arrives meanwhile
        fake.voice(CHAT, USER, file_id=fake.add_file(silent_wav(4)), duration=4)
        assert ack.message_id is not None
        tap = fake.callback(CHAT, USER, ack.message_id, data)
        answer = await fake.wait_answered(tap, timeout=20)
    finally:
        poller.stop()
        await asyncio.wait_for(task, 10)

    assert answer["show_alert"] is False  # answered (the spinner stops), no alert
    [session] = await manager.list_sessions(limit=5)
    assert session.state is not SessionState.COLLECTING  # the tap finalized it ...
    assert [e.sequence for e in session.audio_entries] == [1, 2]  # ... with the second note
