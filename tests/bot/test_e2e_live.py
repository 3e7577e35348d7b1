"""End to end: live transcription in the real bot, with the real model, over real HTTP.

Notes are transcribed while their session is still collecting; ``/done`` finds the work
done; a crash mid-note resumes it; the taskiq backend does the same through Redis; and
``LIVE_TRANSCRIPTION=false`` leaves every note alone until ``/done``.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from bot import texts
from bot.services.live_message import EDIT_INTERVAL_SECONDS
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import (
    CHAT,
    REFERENCES,
    USER,
    delivered,
    eventually,
    is_text,
    launch,
    metadata,
    send_voice,
)
from tests.fake_telegram import FakeTelegram
from tests.redis_server import RedisServer
from tests.transcription.test_queue import WorkerProcess
from tests.wer import word_error_rate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def statuses(tmp_path: Path) -> tuple[str, list[str]]:
    """The only session's state and its entries' statuses (empty before it exists)."""
    found = metadata(tmp_path)
    if not found:
        return "", []
    [session] = found
    return session["state"], [e["transcription_status"] for e in session["audio_entries"]]


def logged_count(proc: BotProcess, event: str) -> int:
    return sum(e.get("event") == event for e in proc.events())


def current_text(fake: FakeTelegram, message_id: int | None) -> str:
    """What the chat shows now in the bot's message ``message_id`` (edits applied)."""
    [shown] = [m for m in fake.messages(CHAT) if m["message_id"] == message_id]
    return str(shown["text"])


def transcript_paragraphs(call_text: str | None) -> list[str]:
    assert call_text is not None
    # After the header, one block per note: its heading line ("Note 1 · 19:48 · 0:05"), its text.
    return [b.split("\n", 1)[1] for b in call_text.split("\n\n", 1)[1].split("\n\n")]


def assert_matches(paragraphs: list[str], names: list[str]) -> None:
    assert len(paragraphs) == len(names), paragraphs
    for paragraph, name in zip(paragraphs, names, strict=True):
        assert word_error_rate(REFERENCES[name], paragraph) <= 0.3, (name, paragraph)


async def test_notes_transcribed_while_collecting_and_done_right_after_the_last(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    send_voice(fake, "speech_01.ogg")
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    # No /done yet: both notes are transcribed while the session is still open.
    await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["COMPLETED"] * 2), 60)
    folder = tmp_path / "sessions" / metadata(tmp_path)[0]["session_id"]
    assert (folder / "transcripts" / "002_audio.txt").read_text().strip()
    assert not (folder / "process" / "input.txt").exists()

    # /done right after the last note, before its reply: it waits for the note to be stored.
    send_voice(fake, "speech_03.ogg")
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert_matches(
        transcript_paragraphs(transcript.text), ["speech_01.ogg", "speech_02.ogg", "speech_03.ogg"]
    )
    await eventually(lambda: delivered(tmp_path))
    assert statuses(tmp_path) == ("TRANSCRIBED", ["COMPLETED"] * 3)
    assert logged_count(proc, "entry_transcribed") == 3  # not one note twice


async def test_kill_while_a_collecting_note_is_transcribed_then_more_notes_and_done(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    send_voice(fake, "speech_04.ogg")
    await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["IN_PROGRESS"]), 30)
    await proc.kill()
    assert statuses(tmp_path) == ("COLLECTING", ["IN_PROGRESS"])  # cut off mid-note

    again = await launch(fake, tmp_path, running)
    # Resumed at start while the session is still collecting, before anything else comes.
    await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["COMPLETED"]), 60)
    assert logged_count(again, "live_entries_resumed") == 1
    send_voice(fake, "speech_02.ogg")
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 3, timeout=30)
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=90)
    assert_matches(
        transcript_paragraphs(transcript.text), ["speech_04.ogg", "speech_02.ogg", "speech_01.ogg"]
    )
    await eventually(lambda: delivered(tmp_path))
    assert statuses(tmp_path) == ("TRANSCRIBED", ["COMPLETED"] * 3)
    # The note cut off is done once more, the others once; one transcript delivered.
    done: list[Any] = [e["sequence"] for e in again.events() if e["event"] == "entry_transcribed"]
    assert sorted(done) == [1, 2, 3]
    transcripts = [t for t in fake.texts(CHAT) if t.startswith("Transcript: ")]
    assert len(transcripts) == 1


async def test_live_transcription_off_transcribes_nothing_before_done(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running, LIVE_TRANSCRIPTION="false")
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    [collecting] = [c for c in fake.sent if c.chat_id == CHAT and c.method == "sendMessage"]
    # The session's message shows both notes; then the bot's edit interval passes, so the
    # edit /done brings is made at once (otherwise it waits, and two short notes can be
    # transcribed meanwhile: the message would go straight to "Finished").
    shows_two = texts.collecting(2, 0).split(",", 1)[0]  # "Recording: 2 notes"
    await eventually(lambda: current_text(fake, collecting.message_id).startswith(shows_two))
    await asyncio.sleep(EDIT_INTERVAL_SECONDS + 0.5)
    # With live transcription both notes would be under way (or done) by now.
    assert statuses(tmp_path) == ("COLLECTING", ["PENDING"] * 2)
    assert logged_count(proc, "entry_transcribed") == 0
    since = len(fake.sent)
    fake.text(CHAT, USER, "/done")
    # Both notes are left: the session's own message says so, edited in place ...
    progress = await fake.wait_for(is_text(CHAT, "Transcribing: "), since=since, timeout=20)
    assert progress.method == "editMessageText"
    assert progress.message_id == collecting.message_id
    assert progress.text in (texts.transcribing(2, 0), texts.transcribing(2, 1))
    assert progress.buttons() == []
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert_matches(transcript_paragraphs(transcript.text), ["speech_01.ogg"] * 2)
    assert logged_count(proc, "entry_transcribed") == 2
    # ... and the transcript is the one new message.
    assert [c for c in fake.sent[since:] if c.method == "sendMessage"] == [transcript]
    assert current_text(fake, collecting.message_id) == texts.FINISHED


async def test_live_session_on_the_taskiq_backend(fake: FakeTelegram, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    await redis.start()
    worker = WorkerProcess(redis.url, tmp_path / "worker.log")
    env = {"TRANSCRIPTION_BACKEND": "taskiq", "REDIS_URL": redis.url}
    bot = BotProcess(fake.base_url, fake.token, tmp_path, **env)
    try:
        await worker.start()
        await bot.start()
        await bot.wait_started()
        send_voice(fake, "speech_01.ogg")
        send_voice(fake, "speech_02.ogg")
        await fake.wait_reactions(CHAT, 2, timeout=20)
        await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["COMPLETED"] * 2), 60)
        assert worker.count("job_started") == 2

        fake.text(CHAT, USER, "/done")
        transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
        assert_matches(transcript_paragraphs(transcript.text), ["speech_01.ogg", "speech_02.ogg"])
        await eventually(lambda: delivered(tmp_path))
        assert worker.count("job_started") == 2  # nothing sent again after /done
        assert statuses(tmp_path) == ("TRANSCRIBED", ["COMPLETED"] * 2)
    finally:
        await bot.stop()
        await worker.stop(signal.SIGKILL)
        await redis.stop()
