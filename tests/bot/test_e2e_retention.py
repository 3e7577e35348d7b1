"""End to end: retention with a processor on, against the real ``python -m bot`` and the
fake Bot API. A session the processor has finished is deleted like any other once it is
old enough (it used to keep its audio for ever: ``processing_due`` was never cleared)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, launch, metadata, send_voice
from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def backdate(tmp_path: Path, session_id: str, days: float, **more: object) -> None:
    """Put the session's times ``days`` back in its metadata.json (as if made then)."""
    path = tmp_path / "sessions" / session_id / "metadata.json"
    data = json.loads(path.read_text())
    moment = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    for key in ("created_at", "updated_at", "finalized_at", "transcribed_at", "delivered_at"):
        data[key] = moment
    data["outputs_delivered_at"] = moment
    data.update(more)
    path.write_text(json.dumps(data))


async def test_a_processed_sessions_audio_is_deleted_by_retention(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running, PROCESSOR="markdown")
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(lambda c: c.document_name == "session.md", timeout=90)
    await eventually(lambda: metadata(tmp_path)[0]["outputs_delivered_at"] is not None)
    [session] = metadata(tmp_path)
    assert session["state"] == "PROCESSED"
    assert session["processing_due"] is False  # processing is over: nothing owed
    await proc.terminate()

    # 40 days later, and marked due as a version that never cleared the mark left it:
    # the next start repairs it, and the sweep at start deletes the audio (30 days).
    sid = session["session_id"]
    backdate(tmp_path, sid, 40, processing_due=True)
    audio = tmp_path / "sessions" / sid / "audio" / "001_audio.ogg"
    assert audio.is_file()
    proc = await launch(fake, tmp_path, running, PROCESSOR="markdown", AUDIO_RETENTION_DAYS="30")
    await eventually(lambda: not audio.exists())
    await eventually(lambda: any(e["event"] == "retention_deleted" for e in proc.events()))
    [deleted] = [e for e in proc.events() if e["event"] == "retention_deleted"]
    assert (deleted["session_id"], deleted["what"]) == (sid, "audio")
    [after] = metadata(tmp_path)
    assert after["processing_due"] is False
    assert after["audio_removed_at"] is not None
    assert (tmp_path / "sessions" / sid / "process" / "input.txt").is_file()  # text stays
