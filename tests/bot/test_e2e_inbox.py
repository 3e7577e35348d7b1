"""End to end, the real ``python -m bot``: one chat's slow download holds back no other chat,
and a crash then loses nothing and doubles nothing (the inbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, eventually, launch, metadata, send_voice
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

OTHER_CHATS = range(5000, 5120)  # more than one getUpdates batch (100)


async def test_a_slow_download_holds_back_no_other_chat_and_a_crash_loses_and_doubles_nothing(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    fake.hang("file")  # every download of the note hangs (a slow link), until released
    note = send_voice(fake, "speech_02.ogg")
    await eventually(lambda: bool(fake.downloads), timeout=20)

    for chat in OTHER_CHATS:
        fake.text(chat, chat, "/help")
    # Every other chat is answered while the note still downloads: before, the offset
    # stayed at the note, and after 99 more updates nothing new was fetched until the
    # note's four tries had run out (minutes).
    await eventually(lambda: all(fake.texts(chat) for chat in OTHER_CHATS), timeout=60)
    assert fake.texts(CHAT) == []  # the note is still downloading: no answer yet
    assert fake.reactions(CHAT) == {}
    await fake.wait_confirmed(note)  # Telegram will not send it again: the inbox has it
    await eventually(lambda: proc.held_updates() == [note], timeout=30)

    await proc.kill()  # mid-download
    fake.release()
    restarted = await launch(fake, tmp_path, running)
    await fake.wait_reactions(CHAT, 1, timeout=60)  # from the inbox, downloaded at last
    [session] = metadata(tmp_path)
    [entry] = session["audio_entries"]
    stored = tmp_path / "sessions" / session["session_id"] / "audio" / entry["filename"]
    assert stored.read_bytes() == (FIXTURES / "speech_02.ogg").read_bytes()
    await eventually(lambda: restarted.held_updates() == [], timeout=30)

    late = fake.text(OTHER_CHATS[0], OTHER_CHATS[0], "/help")
    await fake.wait_confirmed(late, timeout=30)
    await eventually(lambda: len(fake.texts(OTHER_CHATS[0])) == 2, timeout=30)
    # Nothing answered twice across the crash.
    assert all(len(fake.texts(chat)) == 1 for chat in OTHER_CHATS[1:])
    assert len(fake.reactions(CHAT)) == 1
    assert "Traceback" not in restarted.output()
