"""End to end: recordings sent as a file (a WAV, an M4A) are stored and transcribed by the
real model like voice notes; a file that is not a recording is told what is accepted; the
first minutes (the bot's description, a stranger answered once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import texts
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import (
    CHAT,
    REFERENCES,
    USER,
    eventually,
    is_text,
    launch,
    metadata,
)
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram
from tests.wer import word_error_rate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_recording_files_transcribed_other_files_and_strangers_answered_once(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running, ALLOWED_USER_IDS=str(USER))
    # The real process set what an empty chat shows (see also tests/bot/test_connect.py).
    assert fake.description == texts.DESCRIPTION
    assert fake.short_description == texts.SHORT_DESCRIPTION
    wav = fake.add_file((FIXTURES / "speech_01.wav").read_bytes(), file_path="documents/f1.wav")
    fake.document(CHAT, USER, file_id=wav, file_name="Recording 1.wav", mime_type="audio/x-wav")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    # A desktop client may not know the type: the name's extension is enough.
    m4a = fake.add_file((FIXTURES / "speech_01.m4a").read_bytes(), file_path="documents/f2")
    fake.document(
        CHAT, USER, file_id=m4a, file_name="memo.m4a", mime_type="application/octet-stream"
    )
    await fake.wait_reactions(CHAT, 2, timeout=20)
    pdf = fake.add_file(b"%PDF-1.4 not a recording")
    fake.document(CHAT, USER, file_id=pdf, file_name="report.pdf", mime_type="application/pdf")
    await fake.wait_for(is_text(CHAT, texts.NOT_AUDIO_FILE), timeout=20)

    fake.text(CHAT, USER, "/done")

    def transcribed() -> bool:
        found = metadata(tmp_path)
        return bool(found) and found[0]["state"] == "TRANSCRIBED"

    await eventually(transcribed, timeout=120)
    # Each note's heading names the file it came from (one sender: no speaker labels).
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert transcript.text is not None
    headings = [b.split("\n", 1)[0] for b in transcript.text.split("\n\n")[1:]]
    assert [h.split(" · ", 3)[3] for h in headings] == ["Recording 1.wav", "memo.m4a"]
    [session] = metadata(tmp_path)
    entries = session["audio_entries"]
    assert [e["filename"] for e in entries] == ["001_audio.wav", "002_audio.m4a"]
    assert [e["kind"] for e in entries] == ["document", "document"]
    assert [e["original_filename"] for e in entries] == ["Recording 1.wav", "memo.m4a"]
    assert [e["transcription_status"] for e in entries] == ["COMPLETED"] * 2
    # Measured after download (a document declares no length): speech_01 is about 3 s.
    assert all(2 < e["duration_seconds"] < 5 for e in entries)
    folder = tmp_path / "sessions" / session["session_id"]
    assert (folder / "audio/001_audio.wav").read_bytes() == (
        FIXTURES / "speech_01.wav"
    ).read_bytes()
    for n in (1, 2):
        text = (folder / f"transcripts/{n:03d}_audio.txt").read_text()
        assert word_error_rate(REFERENCES["speech_01.ogg"], text) <= 0.3, text
    assert len(fake.downloads) == 2  # the PDF was never downloaded

    # A stranger is answered once, not at every message, and nothing of theirs is kept.
    stranger = 555
    fake.text(stranger, stranger, "hello?")
    await fake.wait_for(is_text(stranger, "Access to this bot is closed"), timeout=20)
    fake.text(stranger, stranger, "/start")
    fake.document(stranger, stranger, file_id=wav, file_name="Recording 1.wav")
    await eventually(
        lambda: [e.get("event") for e in proc.events()].count("access_refused_quietly") == 2
    )
    assert fake.texts(stranger) == [texts.access_closed(stranger)]
    assert len(fake.downloads) == 2
    assert len(metadata(tmp_path)) == 1
