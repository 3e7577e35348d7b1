"""A burst of notes in one chat: numbered in send order, stored with few writes."""

from __future__ import annotations

import asyncio

from aiogram import Bot

from bot.services.ingest import IncomingAudio, IngestService
from bot.updates.ordering import ChatOrdering
from sessions import FileSessionManager
from tests.conftest import SaveCounter, silent_wav
from tests.fake_telegram import FakeTelegram

CHAT = 77


async def test_burst_keeps_send_order_with_group_commit(
    manager: FileSessionManager, saves: SaveCounter, fake: FakeTelegram, bot: Bot
) -> None:
    ingest = IngestService(bot, manager, max_download_bytes=10**6)
    ingest.attach()
    ordering = ChatOrdering()
    # Later notes are shorter (smaller), so their downloads tend to finish first.
    audios, datas = [], []
    for n in range(30):
        data = silent_wav(3.0 - n * 0.09)
        datas.append(data)
        file_id = fake.add_file(data)
        audios.append(IncomingAudio("voice", file_id, f"u{n}", 2, len(data), None, ".ogg"))

    async def one(n: int) -> None:
        ticket = ordering.issue(CHAT, 1000 + n, exclusive=False)
        await ordering.wait_turn(ticket)
        try:
            await ingest.ingest(CHAT, 500 + n, audios[n], ticket)
        finally:
            ordering.finish(ticket)

    # Tickets are issued in update order, as the poller does, before any handler runs.
    tasks = [asyncio.create_task(one(n)) for n in range(30)]
    await asyncio.wait_for(asyncio.gather(*tasks), 30)

    [session] = await manager.list_sessions(limit=5)
    assert [e.message_id for e in session.audio_entries] == [500 + n for n in range(30)]
    assert [e.sequence for e in session.audio_entries] == list(range(1, 31))
    folder = manager.get_session_path(session.session_id) / "audio"
    for n, entry in enumerate(session.audio_entries):
        assert (folder / entry.filename).read_bytes() == datas[n]
    # 30 reservations + 30 entries + the session itself, in far fewer than 61 writes.
    assert saves.count < 30
