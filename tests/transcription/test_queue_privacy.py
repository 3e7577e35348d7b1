"""What a transcribed note leaves in Redis: nothing of its audio or its transcript, so a
session deleted with /forget has nothing left there either (real redis-server, in-process
worker, no model)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from taskiq.kicker import AsyncKicker

from tests.redis_server import RedisServer
from tests.transcription.fakes import ScriptedAudioTranscriber
from tests.transcription.test_queue_faults import bot_side, settings_for, worker
from transcription.broker import build_broker
from transcription.jobs import RESULT_PREFIX, TASK_NAME, Job
from transcription.queue import _problems, make_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def everything_in(client: Redis) -> dict[bytes, bytes]:
    """Every key in Redis with its content as bytes (a stream's entries, a hash's fields)."""
    found: dict[bytes, bytes] = {}
    async for key in client.scan_iter():
        kind = await client.type(key)
        if kind == b"string":
            found[key] = await client.get(key) or b""
        elif kind == b"stream":
            found[key] = repr(await client.xrange(key)).encode()
        elif kind == b"hash":
            found[key] = repr(await client.hgetall(key)).encode()
        else:
            found[key] = kind
    return found


async def test_a_transcribed_note_leaves_nothing_of_itself_in_redis(
    redis: RedisServer, tmp_path: Path
) -> None:
    settings = settings_for(redis.url)
    audio = tmp_path / "note.ogg"
    audio.write_bytes(b"text:a private shopping list")
    async with bot_side(settings) as queue, worker(settings, ScriptedAudioTranscriber()):
        result = await queue.transcribe_timed(audio, 30.0)
    assert result.text == "a private shopping list"
    client = Redis.from_url(redis.url)
    left = await everything_in(client)
    await client.aclose()
    assert left  # the queue's own keys (the stream, marks) are there ...
    for key, content in left.items():  # ... but neither the audio nor the transcript
        assert b"private shopping" not in content, key
        assert not key.startswith(RESULT_PREFIX.encode()), key


async def test_a_result_nobody_reads_expires_after_the_configured_ttl(
    redis: RedisServer, tmp_path: Path
) -> None:
    settings = settings_for(redis.url, transcription_result_ttl_seconds=600)
    broker = build_broker(settings)
    await broker.startup()
    task_id = uuid.uuid4().hex
    kicker: AsyncKicker[object, object] = AsyncKicker(TASK_NAME, broker, {})
    client = Redis.from_url(redis.url)
    key = f"{RESULT_PREFIX}:{task_id}"
    async with worker(settings, ScriptedAudioTranscriber()):
        await kicker.with_task_id(task_id).kiq(make_job(b"text:never read", "n.ogg", settings))
        while not await client.exists(key):  # noqa: ASYNC110 - written by the worker
            await asyncio.sleep(0.02)
    ttl = await client.ttl(key)
    await client.aclose()
    await broker.shutdown()
    assert 540 <= ttl <= 600


def test_a_refused_job_is_logged_without_its_values() -> None:
    """A job a worker cannot take is logged by what is wrong and where, never by the values
    it holds: a chat's vocabulary is user data."""
    job = {
        "name": "001_audio.ogg",
        "audio_b64": "T2dnUw==",
        "settings": {"whisper_beam_size": 5},
        "options": {"hotwords": "Zoë Ortega, " * 400, "language": "not a language"},
        "from_a_newer_bot": True,
    }
    with pytest.raises(ValidationError) as refused:
        Job.model_validate(job)
    said = _problems(refused.value)
    assert "options.language: string_pattern_mismatch" in said
    assert "options.hotwords: string_too_long" in said
    assert "from_a_newer_bot: extra_forbidden" in said
    assert "Zoë" not in said
    assert "not a language" not in said
    assert "Zoë" in str(refused.value)  # what pydantic's own message would have logged
