"""End to end, the real ``python -m bot``: delivery under faults, and what a processor gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import (
    CHAT,
    USER,
    eventually,
    is_text,
    launch,
    metadata,
    one_note_transcribing,
    send_voice,
)
from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


REDIS_PASSWORD = "e2e-redis-password"


async def test_delivery_outlasts_the_request_retries_in_the_same_process(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await one_note_transcribing(fake, tmp_path, running)
    # More 502s than one request's retries (5 attempts): delivery itself must try again.
    fake.fail_next("sendMessage", status=502, count=6)
    await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=90)
    await eventually(lambda: metadata(tmp_path)[0]["delivered_at"] is not None)
    [session] = metadata(tmp_path)
    assert session["delivery"]["sent"] == ["transcript/1"]
    transcripts = [t for t in fake.texts(CHAT) if t.startswith("Transcript: ")]
    assert len(transcripts) == 1
    retries = [e for e in proc.events() if e.get("event") == "delivery_retry"]
    assert [(e["part"], e["attempt"]) for e in retries] == [("transcript/1", 1)]


async def test_command_processor_gets_no_secrets_and_only_plain_files_are_sent(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    command = "command:env > env.txt; ln -s /etc/passwd passwd.txt; : > empty.txt"
    redis = f"redis://:{REDIS_PASSWORD}@localhost:6379/0"
    await launch(fake, tmp_path, running, PROCESSOR=command, REDIS_URL=redis)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    fake.text(CHAT, USER, "/done")
    env = await fake.wait_for(lambda c: c.document_name == "env.txt", timeout=90)
    await eventually(lambda: metadata(tmp_path)[0]["outputs_delivered_at"] is not None)

    assert env.document_bytes is not None
    dumped = env.document_bytes.decode()
    assert "SESSION_ID=" in dumped
    for leaked in ("BOT_TOKEN", fake.token, "REDIS_URL", REDIS_PASSWORD, "TELEGRAM_API_URL"):
        assert leaked not in dumped
    assert [c.document_name for c in fake.sent if c.method == "sendDocument"] == ["env.txt"]
    await fake.wait_for(is_text(CHAT, "Not sent, because they are empty: empty.txt."))
    await fake.wait_for(is_text(CHAT, "not plain files: passwd.txt."))
    [session] = metadata(tmp_path)
    assert session["state"] == "PROCESSED"
