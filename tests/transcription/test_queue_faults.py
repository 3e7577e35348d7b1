"""The task queue under faults, with a real redis-server and an in-process worker (no model).

The worker here is the real taskiq task and broker (``register_transcription_task``,
``build_broker``) with a scripted transcriber in place of Whisper, so these tests are about
the queue: what comes back from Redis, queue waiting against run time, retries,
cancellation, concurrency, result expiry and a password-protected Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis
from taskiq.api import run_receiver_task

from sessions import FileSessionManager, Session, TranscriptionStatus
from tests.conftest import add_note
from tests.redis_server import RedisServer
from tests.transcription.fakes import ScriptedAudioTranscriber
from transcription import TranscriptionSettings, transcribe_entry, transcribe_session
from transcription.broker import build_broker
from transcription.jobs import RESULT_PREFIX, JobMarks
from transcription.queue import QUEUE_NAME, QueueTranscriber
from transcription.queue import register_transcription_task as register

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def settings_for(url: str, **changes: Any) -> TranscriptionSettings:
    base = TranscriptionSettings(
        transcription_backend="taskiq",
        redis_url=url,
        transcription_retries=0,
        transcription_retry_backoff_seconds=0.01,
    )
    return base.model_copy(update=changes)


@contextlib.asynccontextmanager
async def worker(
    settings: TranscriptionSettings, fake: ScriptedAudioTranscriber, concurrency: int = 4
) -> AsyncIterator[None]:
    """The worker's real task and broker, in this process, transcribing with ``fake``."""
    broker = build_broker(settings)
    client = Redis.from_url(settings.redis_url)

    async def transcriber_for(_: TranscriptionSettings) -> ScriptedAudioTranscriber:
        return fake

    register(broker, transcriber_for, JobMarks(client, settings.transcription_result_ttl_seconds))
    broker.is_worker_process = True
    await broker.startup()
    receiver = asyncio.create_task(run_receiver_task(broker, max_async_tasks=concurrency))
    try:
        yield
    finally:
        receiver.cancel()
        await asyncio.wait({receiver}, timeout=5)
        await broker.shutdown()
        await client.aclose()


@contextlib.asynccontextmanager
async def bot_side(settings: TranscriptionSettings) -> AsyncIterator[QueueTranscriber]:
    queue = QueueTranscriber(settings, poll_seconds=0.02)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.aclose()


async def session_with(manager: FileSessionManager, *scripts: str) -> Session:
    session = await manager.create_session(chat_id=1)
    for n, script in enumerate(scripts):
        await add_note(manager, session, message_id=n + 1, data=script.encode())
    return await manager.finalize_session(session.session_id)


async def queued_jobs(client: Redis, count: int) -> list[dict[bytes, bytes]]:
    """Until the stream holds ``count`` jobs; their fields."""
    while (await client.xlen(QUEUE_NAME)) != count:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return [fields for _, fields in await client.xrange(QUEUE_NAME)]


class Evil:
    """Unpickling this creates a file: proof that code from Redis ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


async def test_a_pickled_result_is_refused_never_executed(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path
) -> None:
    marker = tmp_path / "code-from-redis-ran"
    settings = settings_for(redis.url)
    session = await session_with(manager, "text:never transcribed")
    client = Redis.from_url(redis.url)
    async with bot_side(settings) as queue:
        run = asyncio.create_task(transcribe_entry(manager, queue, session.session_id, 1, settings))
        # No worker: whoever can write to Redis answers the job with a pickle.
        (job,) = await queued_jobs(client, 1)
        task_id = json.loads(job[b"data"])["task_id"]
        await client.set(f"{RESULT_PREFIX}:{task_id}", pickle.dumps(Evil(marker)))
        status = await asyncio.wait_for(run, 60)
    await client.aclose()
    assert not marker.exists()
    assert status is TranscriptionStatus.FAILED
    stored = await manager.require_session(session.session_id)
    assert [e.code for e in stored.errors] == ["transcription_failed"]


async def test_queue_waiting_is_not_part_of_the_run_timeout(
    manager: FileSessionManager, redis: RedisServer
) -> None:
    settings = settings_for(
        redis.url,
        transcription_timeout_base_seconds=1.0,
        transcription_timeout_per_audio_second=0.0,
    )
    session = await session_with(manager, "text:worth the wait")
    client = Redis.from_url(redis.url)
    fake = ScriptedAudioTranscriber()
    with structlog.testing.capture_logs() as logs:
        async with bot_side(settings) as queue:
            run = asyncio.create_task(
                transcribe_entry(manager, queue, session.session_id, 1, settings)
            )
            await queued_jobs(client, 1)
            await asyncio.sleep(2.0)  # queued longer than the run timeout: no worker yet
            assert not run.done()
            async with worker(settings, fake):
                status = await asyncio.wait_for(run, 60)
    await client.aclose()
    assert status is TranscriptionStatus.COMPLETED
    (finished,) = [e for e in logs if e["event"] == "job_finished"]
    assert finished["queue_wait_seconds"] >= 2.0
    assert 0 <= finished["run_seconds"] < finished["queue_wait_seconds"]


async def test_a_timed_out_job_is_retried_and_the_bot_moves_on(
    manager: FileSessionManager, redis: RedisServer
) -> None:
    settings = settings_for(
        redis.url,
        transcription_retries=1,
        transcription_timeout_base_seconds=0.5,
        transcription_timeout_per_audio_second=0.0,
    )
    session = await session_with(manager, "hang-once:second time lucky")
    fake = ScriptedAudioTranscriber()
    with structlog.testing.capture_logs() as logs:
        async with bot_side(settings) as queue, worker(settings, fake):
            status = await asyncio.wait_for(
                transcribe_entry(manager, queue, session.session_id, 1, settings), 60
            )
    assert status is TranscriptionStatus.COMPLETED
    assert fake.attempts["hang-once:second time lucky"] == 2
    assert [e["event"] for e in logs].count("job_timed_out") == 1
    text = manager.get_session_path(session.session_id) / "transcripts/001_audio.txt"
    assert text.read_text(encoding="utf-8") == "second time lucky\n"


async def test_workers_skip_a_job_the_bot_gave_up_on(redis: RedisServer, tmp_path: Path) -> None:
    settings = settings_for(redis.url)
    client = Redis.from_url(redis.url)
    audio = tmp_path / "note.ogg"
    audio.write_bytes(b"text:nobody waits for this")
    fake = ScriptedAudioTranscriber()
    with structlog.testing.capture_logs() as logs:
        async with bot_side(settings) as queue:
            waiting = asyncio.create_task(queue.transcribe_timed(audio, 10.0))
            await queued_jobs(client, 1)
            waiting.cancel()  # the bot gives up (shutdown, or the entry failed)
            with pytest.raises(asyncio.CancelledError):
                await waiting
            async with worker(settings, fake):
                await queued_jobs(client, 0)  # taken, acknowledged and dropped
    await client.aclose()
    assert fake.calls == []
    assert "job_skipped_cancelled" in [e["event"] for e in logs]


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_concurrency_is_the_number_of_notes_in_flight(
    manager: FileSessionManager, redis: RedisServer, concurrency: int
) -> None:
    settings = settings_for(redis.url, transcription_concurrency=concurrency)
    notes = [f"gate:note {n}" for n in range(4)]
    session = await session_with(manager, *notes)
    client = Redis.from_url(redis.url)
    fake = ScriptedAudioTranscriber()
    async with bot_side(settings) as queue, worker(settings, fake, concurrency=8):
        run = asyncio.create_task(transcribe_session(manager, queue, session.session_id, settings))
        await fake.wait_running(concurrency)
        # Every job sent is running and held at the gate: nothing else is queued.
        assert await client.xlen(QUEUE_NAME) == concurrency
        fake.gate.set()
        done = await asyncio.wait_for(run, 60)
    await client.aclose()
    assert fake.peak == concurrency
    assert len(fake.calls) == 4
    assert all(e.transcription_status is TranscriptionStatus.COMPLETED for e in done.audio_entries)


@pytest.mark.parametrize("user", ["", "default"])
async def test_a_password_in_redis_url_is_used_and_never_logged(tmp_path: Path, user: str) -> None:
    password = "correct-horse-battery-staple"
    server = RedisServer(tmp_path / "redis", password=password)
    await server.start()
    try:
        url = f"redis://{user}:{password}@127.0.0.1:{server.port}/0"
        settings = settings_for(url)
        audio = tmp_path / "note.ogg"
        audio.write_bytes(b"text:behind a password")
        with structlog.testing.capture_logs() as logs:
            async with bot_side(settings) as queue, worker(settings, ScriptedAudioTranscriber()):
                result = await queue.transcribe_timed(audio, 30.0)
        assert result.text == "behind a password"
        assert password not in repr(logs)
        assert {"event": "queue_connected", "redis": f"redis://127.0.0.1:{server.port}/0"} in [
            {k: e[k] for k in ("event", "redis")} for e in logs if "redis" in e
        ]
    finally:
        await server.stop()
