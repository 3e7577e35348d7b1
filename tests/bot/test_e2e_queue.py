"""The real bot on the taskiq backend: workers elsewhere, the bot killed while jobs are out,
and /cancel while the notes' jobs wait for a worker."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, delivered, eventually, is_text, metadata, send_voice
from tests.bot.test_e2e_library import tap
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram
from tests.redis_server import RedisServer
from tests.transcription.test_queue import WorkerProcess
from transcription.jobs import RESULT_PREFIX
from transcription.queue import QUEUE_NAME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def test_bot_killed_with_jobs_out_then_restarted(fake: FakeTelegram, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    await redis.start()
    worker = WorkerProcess(redis.url, tmp_path / "worker.log")
    bots: list[BotProcess] = []
    env = {"TRANSCRIPTION_BACKEND": "taskiq", "REDIS_URL": redis.url}
    try:
        await worker.start()
        bots.append(await BotProcess(fake.base_url, fake.token, tmp_path, **env).start())
        await bots[0].wait_started()
        assert not any(e.get("event") == "whisper_model_loaded" for e in bots[0].events())
        # 73 s of speech: the worker is still at it when the bot is killed below.
        names = ["speech_04.ogg", "speech_03.ogg", "speech_04.ogg", "speech_03.ogg"]
        names += ["speech_04.ogg", "speech_02.ogg"]
        for name in names:
            send_voice(fake, name)
        await fake.wait_reactions(CHAT, len(names), timeout=20)
        fake.text(CHAT, USER, "/done")
        await fake.wait_for(is_text(CHAT, "Transcribing: "), timeout=20)  # the session's message
        await worker.wait_event("job_started")
        await bots[0].kill()  # jobs are out; the bot is gone
        assert metadata(tmp_path)[0]["state"] == "TRANSCRIBING"

        bots.append(await BotProcess(fake.base_url, fake.token, tmp_path, **env).start())
        await bots[1].wait_started()
        await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=90)
        await eventually(lambda: delivered(tmp_path))
        [session] = metadata(tmp_path)
        assert len(session["audio_entries"]) == len(names)
        statuses = [e["transcription_status"] for e in session["audio_entries"]]
        assert statuses == ["COMPLETED"] * len(names)
        transcripts = [t for t in fake.texts(CHAT) if t.startswith("Transcript: ")]
        assert len(transcripts) == 1
        body = transcripts[0].split("\n\n", 1)[1]
        assert len(body.split("\n\n")) == len(names)
    finally:
        for bot in bots:
            await bot.stop()
        await worker.stop(signal.SIGKILL)
        await redis.stop()


async def stream_length(client: Redis, length: int) -> None:
    while await client.xlen(QUEUE_NAME) != length:  # noqa: ASYNC110 - written by others
        await asyncio.sleep(0.05)


async def test_cancelled_notes_are_skipped_by_the_workers_and_leave_nothing_in_redis(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")
    await redis.start()
    worker = WorkerProcess(redis.url, tmp_path / "worker.log")
    env = {
        "TRANSCRIPTION_BACKEND": "taskiq",
        "REDIS_URL": redis.url,
        "LIVE_TRANSCRIPTION": "1",
        "TRANSCRIPTION_CONCURRENCY": "2",  # both notes' jobs out at once
    }
    bot = BotProcess(fake.base_url, fake.token, tmp_path, **env)
    client = Redis.from_url(redis.url)
    try:
        await (await bot.start()).wait_started()
        for name in ("speech_01.ogg", "speech_02.ogg"):
            send_voice(fake, name)
        await fake.wait_reactions(CHAT, 2, timeout=20)
        # No worker is up: the notes' jobs wait in the queue.
        await asyncio.wait_for(stream_length(client, 2), 60 * TIMEOUT_SCALE)
        fake.text(CHAT, USER, "/cancel")  # two notes: it asks first
        question = await fake.wait_for(is_text(CHAT, "Cancel this session?"), timeout=20)
        [(_, yes), _] = question.buttons()
        await tap(fake, CHAT, USER, question, yes)
        await fake.wait_for(is_text(CHAT, "is cancelled"), timeout=20)

        await worker.start()
        await asyncio.wait_for(stream_length(client, 0), 60 * TIMEOUT_SCALE)  # acknowledged
        assert worker.count("job_skipped_cancelled") == 2
        assert worker.count("job_done") == 0  # never transcribed
        async for key in client.scan_iter():
            assert not key.startswith(RESULT_PREFIX.encode()), key
            if await client.type(key) == b"string":
                assert b"coat" not in (await client.get(key) or b""), key
    finally:
        await client.aclose()
        await bot.stop()
        await worker.stop(signal.SIGKILL)
        await redis.stop()
