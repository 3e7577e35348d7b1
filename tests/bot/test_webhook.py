"""Webhook mode end to end: the real bot serves a webhook; the test POSTs as Telegram does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.updates.webhook import SECRET_HEADER
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, delivered, eventually, is_text, metadata
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram
from tests.redis_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SECRET = "s3cret-Token_1"


async def test_webhook_mode(fake: FakeTelegram, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    bot = BotProcess(
        fake.base_url,
        fake.token,
        tmp_path,
        WEBHOOK_URL=url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_HOST="127.0.0.1",
        WEBHOOK_PORT=str(port),
        HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )
    await bot.start()
    try:
        await bot.wait_started()
        await fake.wait_called("setWebhook", timeout=10)
        assert fake.webhook["url"] == url
        assert fake.webhook["secret_token"] == SECRET
        assert str(fake.webhook["max_connections"]) == "1"
        assert not fake.webhook_deleted  # polling's deleteWebhook must not undo it

        def update(update_id: int, message: dict[str, Any]) -> dict[str, Any]:
            base = {"date": 1_700_000_000, "chat": {"id": CHAT, "type": "private"}}
            sender = {"id": USER, "is_bot": False, "first_name": "T"}
            return {"update_id": update_id, "message": {**base, "from": sender, **message}}

        file_id = fake.add_file((FIXTURES / "speech_01.ogg").read_bytes())
        voice = update(
            10,
            {
                "message_id": 1,
                "voice": {
                    "file_id": file_id,
                    "file_unique_id": "u1",
                    "duration": 3,
                    "mime_type": "audio/ogg",
                },
            },
        )
        fake.add_message(voice["message"])  # Telegram knows the messages it posts
        async with aiohttp.ClientSession() as http:
            wrong = await http.post(url, json=voice, headers={SECRET_HEADER: "nope"})
            assert wrong.status == 401
            assert metadata(tmp_path) == []

            for _ in range(2):  # Telegram may deliver the same update twice
                answered = await http.post(url, json=voice, headers={SECRET_HEADER: SECRET})
                assert answered.status == 200
                # Answered only once stored: the entry is on disk when the answer arrives.
                [session] = metadata(tmp_path)
                assert len(session["audio_entries"]) == 1

            done = update(
                11,
                {
                    "message_id": 2,
                    "text": "/done",
                    "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
                },
            )
            answered = await http.post(url, json=done, headers={SECRET_HEADER: SECRET})
            assert answered.status == 200
        await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
        await eventually(lambda: delivered(tmp_path))
        # The note, though delivered twice, was acknowledged once.
        assert len(fake.reactions(CHAT)) == 1
        acks = [
            c.text
            for c in fake.sent
            if c.method == "sendMessage" and (c.text or "").startswith("Recording:")
        ]
        assert [(a or "").split("\n")[0] for a in acks] == ["Recording: 1 note, 0:03."]
        assert (tmp_path / "heartbeat").exists()
        assert await bot.terminate() < 10
    finally:
        await bot.stop()
