"""End to end: notes the real bot cannot store are named to the user, and nothing is half-kept.

``python -m bot`` runs against the fake Bot API (tests/fake_telegram/), which fails
downloads, hides file sizes and pauses a download half-way on request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import eventually, is_text, launch, metadata
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram, SentCall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHAT = USER = 1001


def send_voice(fake: FakeTelegram, name: str, *, declared: int, message_id: int) -> int:
    file_id = fake.add_file((FIXTURES / name).read_bytes())
    return fake.voice(CHAT, USER, file_id=file_id, duration=declared, message_id=message_id)


def replied_to(fake: FakeTelegram, call: SentCall) -> int | None:
    """The message id the bot's message ``call`` answers, if it is a reply."""
    for message in fake.messages(CHAT):
        if message["message_id"] == call.message_id and "reply_to_message" in message:
            return int(message["reply_to_message"]["message_id"])
    return None


def audio_files(tmp_path: Path) -> list[str]:
    """Every file name in any session's audio/ folder, hidden ones included."""
    return sorted(p.name for p in (tmp_path / "sessions").glob("*/audio/*"))


async def test_notes_that_cannot_be_saved_are_named_and_leave_nothing(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(
        fake, tmp_path, running, MAX_DOWNLOAD_BYTES="40000", MAX_AUDIO_DURATION_SECONDS="10"
    )
    # A download that fails for good (every retry answered 502).
    fake.fail_next("file", status=502, count=4)
    send_voice(fake, "speech_01.ogg", declared=3, message_id=101)
    failed = await fake.wait_for(is_text(CHAT, "I could not save this note"), timeout=30)
    assert failed.text is not None
    assert "downloading it from Telegram failed" in failed.text
    assert replied_to(fake, failed) == 101

    # No size declared anywhere, over MAX_DOWNLOAD_BYTES: cut off while streaming.
    fake.omit_file_sizes()
    send_voice(fake, "speech_04.ogg", declared=5, message_id=102)  # 46 KB
    too_big = await fake.wait_for(is_text(CHAT, "larger than the"), timeout=30)
    fake.omit_file_sizes(False)
    assert too_big.text is not None
    assert "It was not saved" in too_big.text
    assert replied_to(fake, too_big) == 102

    # Declares 5 s, holds 11 s: the measured length decides.
    send_voice(fake, "speech_03.ogg", declared=5, message_id=103)
    too_long = await fake.wait_for(is_text(CHAT, "0:11 long; the limit is 0:10"), timeout=30)
    assert replied_to(fake, too_long) == 103

    # Nothing of them is left: the next note is note 1, with its measured length.
    last = send_voice(fake, "speech_01.ogg", declared=9, message_id=104)
    await fake.wait_reactions(CHAT, 1, timeout=30)
    await fake.wait_confirmed(last, timeout=30)  # the bot moved past every one of them
    [session] = metadata(tmp_path)
    assert [(e["sequence"], e["filename"], e["message_id"]) for e in session["audio_entries"]] == [
        (1, "001_audio.ogg", 104)
    ]
    assert session["reserved_sequences"] == {}
    assert audio_files(tmp_path) == ["001_audio.ogg"]
    reasons = [e["reason"] for e in proc.events() if e.get("event") == "note_not_saved"]
    assert reasons == ["download_failed", "too_big", "too_long"]


async def test_kill_mid_download_leaves_no_file_under_the_final_name(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    fake.delay_file(120)  # the download sends half the file, then pauses
    update_id = send_voice(fake, "speech_02.ogg", declared=6, message_id=201)
    # The download has started and the bot has opened the file it writes into.
    await eventually(lambda: bool(fake.downloads) and bool(audio_files(tmp_path)))
    await proc.kill()

    assert [name for name in audio_files(tmp_path) if not name.startswith(".")] == []
    assert audio_files(tmp_path) == [".001_audio.ogg.part"]
    assert update_id in proc.held_updates()  # not handled: the next start handles it

    fake.delay_file(0)
    restarted = await launch(fake, tmp_path, running)
    removed = [e["path"] for e in restarted.events() if e.get("event") == "leftover_removed"]
    assert [Path(p).name for p in removed] == [".001_audio.ogg.part"]
    await fake.wait_reactions(CHAT, 1, timeout=30)
    await fake.wait_confirmed(update_id, timeout=30)
    [session] = metadata(tmp_path)
    assert [(e["sequence"], e["message_id"]) for e in session["audio_entries"]] == [(1, 201)]
    assert audio_files(tmp_path) == ["001_audio.ogg"]
    stored = tmp_path / "sessions" / session["session_id"] / "audio" / "001_audio.ogg"
    assert stored.read_bytes() == (FIXTURES / "speech_02.ogg").read_bytes()
