"""End to end: speaker turns inside one recording, with the real diarization engine and the
real Whisper model. One bot with ``DIARIZATION=true``: ``/speakers on``, a recording of two
voices sent as an audio file comes back in turns ("Speaker 1: ...", "Speaker 2: ..."),
``/speakers 1 Anna`` names one (``/get`` shows it), and with ``/speakers off`` the same
recording reads as one block, as before."""

from __future__ import annotations

import html
import importlib.util
import json
import re
from pathlib import Path

import pytest

from bot import speaker_texts as st
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, is_text, launch, metadata
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram
from tests.wer import word_error_rate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        importlib.util.find_spec("transcription.diarization") is None,
        reason="the diarization engine (transcription.diarization) is not in this tree",
    ),
]

TWO_VOICES = FIXTURES / "two_voices.ogg"
_TURN = re.compile(r"^(Speaker \d+|Anna): ", re.MULTILINE)


def send_recording(fake: FakeTelegram) -> None:
    file_id = fake.add_file(TWO_VOICES.read_bytes(), file_path="music/two_voices.ogg")
    fake.audio(
        CHAT, USER, file_id=file_id, duration=12, file_name="call.ogg", mime_type="audio/ogg"
    )


async def test_a_two_voice_recording_comes_back_in_turns_named_and_off_as_before(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, ALLOWED_USER_IDS=str(USER), DIARIZATION="true")
    # The owner's DIARIZATION offers /speakers: in the menu and in /help.
    await eventually(lambda: "speakers" in {c["command"] for c in fake.commands}, timeout=20)
    fake.text(CHAT, USER, "/help")
    await fake.wait_for(is_text(CHAT, "\n/speakers - "), timeout=20)
    fake.text(CHAT, USER, "/speakers on")
    await fake.wait_for(is_text(CHAT, st.speakers_set(True)), timeout=20)

    send_recording(fake)
    await fake.wait_reactions(CHAT, 1, timeout=30)
    fake.text(CHAT, USER, "/done")
    first = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=240)
    assert first.text is not None
    speakers = _TURN.findall(first.text)
    assert {"Speaker 1", "Speaker 2"} <= set(speakers), first.text
    # The fixture's true turns: who speaks (numbered in order of first words) and what.
    truth = json.loads(TWO_VOICES.with_suffix(".json").read_text())["turns"]
    order = list(dict.fromkeys(t["speaker"] for t in truth))
    assert speakers == [f"Speaker {order.index(t['speaker']) + 1}" for t in truth], first.text
    lines = html.unescape(first.text).splitlines()
    said = [line.split(": ", 1)[1] for line in lines if _TURN.match(line)]
    for turn, heard in zip(truth, said, strict=True):
        assert word_error_rate(turn["text"], heard) <= 0.4, (turn["text"], heard)
    [session] = metadata(tmp_path)
    sid = session["session_id"]
    assert sorted({n for ns in session["speaker_numbers"].values() for n in ns}) == [1, 2]
    given = (tmp_path / "sessions" / sid / "process" / "input.txt").read_text()
    assert _TURN.findall(given) == speakers  # what written notes are made from, alike

    # Naming a voice: stored in the session, shown by /get, said what changed.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/speakers 1 Anna")
    await fake.wait_for(is_text(CHAT, "is now called Anna"), timeout=20, since=since)
    assert metadata(tmp_path)[0]["speaker_names"] == {"1": "Anna"}
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/get {sid}")
    again = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60, since=since)
    assert again.text is not None
    named = _TURN.findall(again.text)
    assert named == ["Anna" if s == "Speaker 1" else s for s in speakers]
    given = (tmp_path / "sessions" / sid / "process" / "input.txt").read_text()
    assert "Anna: " in given
    since = len(fake.sent)
    fake.text(CHAT, USER, "/speakers")
    status = await fake.wait_for(is_text(CHAT, "Speaker turns in this chat"), since=since)
    assert status.text is not None
    assert "on." in status.text
    assert "Speaker 1: Anna" in status.text

    # Turned off: the same recording reads as one block of text, as before.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/speakers off")
    await fake.wait_for(is_text(CHAT, st.speakers_set(False)), timeout=20, since=since)
    send_recording(fake)
    await eventually(lambda: len(metadata(tmp_path)) == 2, timeout=30)
    fake.text(CHAT, USER, "/done")
    plain = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=240, since=since)
    assert plain.text is not None
    assert not _TURN.findall(plain.text), plain.text
    second = metadata(tmp_path)[1]
    assert second.get("speaker_numbers") is None
    stored = tmp_path / "sessions" / second["session_id"] / "transcripts" / "001_audio.json"
    assert "speaker_centroids" not in stored.read_text()
