"""Jobs the bot gave up on (a run timed out, the note's session cancelled or forgotten):
skipped by the workers that have not started them, and no result of them kept in Redis
(real redis-server; real worker processes where the worker's own behaviour is the point,
the worker's real task in this process where a job must be held mid-run)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis
from taskiq import TaskiqResult
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisAsyncResultBackend

from sessions import FileSessionManager, Session, SessionState
from tests.conftest import FIXTURES, add_note
from tests.redis_server import RedisServer
from tests.transcription.fakes import ScriptedAudioTranscriber
from tests.transcription.test_queue import WorkerProcess, start_worker
from tests.transcription.test_queue import workers as workers  # the fixture
from tests.transcription.test_queue_faults import bot_side, queued_jobs, settings_for, worker
from tests.transcription.test_queue_privacy import everything_in
from transcription import TranscriptionService
from transcription.broker import build_broker
from transcription.jobs import RESULT_PREFIX, TASK_NAME, JobMarks
from transcription.queue import QueueTranscriber, make_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]


async def result_keys(client: Redis) -> list[bytes]:
    return [key async for key in client.scan_iter(match=f"{RESULT_PREFIX}:*")]


async def until_exists(client: Redis, key: str) -> None:
    while not await client.exists(key):  # noqa: ASYNC110 - written by the worker
        await asyncio.sleep(0.02)


async def test_a_job_given_up_before_a_worker_takes_it_is_skipped_and_leaves_no_result(
    redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    settings = settings_for(redis.url)
    client = Redis.from_url(redis.url)
    audio = tmp_path / "note.ogg"
    audio.write_bytes((FIXTURES / "speech_01.ogg").read_bytes())
    async with bot_side(settings) as queue:
        waiting = asyncio.create_task(queue.transcribe_timed(audio, 60.0))
        await queued_jobs(client, 1)
        waiting.cancel()  # the bot gives up before any worker is up
        with pytest.raises(asyncio.CancelledError):
            await waiting
    late = await start_worker(redis, tmp_path, workers)
    await late.wait_event("job_skipped_cancelled", timeout=120)
    await queued_jobs(client, 0)  # acknowledged (after its result was stored, or not) and dropped
    assert late.count("job_done") == 0  # never transcribed
    assert await result_keys(client) == []
    await client.aclose()


async def test_a_result_that_lands_after_the_bot_gave_up_is_deleted(
    redis: RedisServer, tmp_path: Path
) -> None:
    # The run times out while the worker holds the job; the worker finishes afterwards.
    settings = settings_for(redis.url)
    client = Redis.from_url(redis.url)
    audio = tmp_path / "note.ogg"
    audio.write_bytes(b"gate:a secret nobody waits for any more")
    fake = ScriptedAudioTranscriber()
    with structlog.testing.capture_logs() as logs:
        async with bot_side(settings) as queue, worker(settings, fake):
            with pytest.raises(TimeoutError):
                await queue.transcribe_timed(audio, 0.5)
            assert fake.calls == ["note.ogg"]  # started, still running
            fake.gate.set()
            await queued_jobs(client, 0)  # finished, and acknowledged
    left = await everything_in(client)
    await client.aclose()
    assert not any(key.startswith(RESULT_PREFIX.encode()) for key in left)
    assert not any(b"nobody waits" in content for content in left.values())
    assert "job_result_dropped" in [e["event"] for e in logs]


async def test_a_result_stored_as_the_bot_gives_up_is_deleted_by_the_worker(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker has checked the mark, and the bot gives up just before the result is
    # stored: the bot found nothing to delete, so the worker must delete it.
    settings = settings_for(redis.url)
    client = Redis.from_url(redis.url)
    marks = JobMarks(client, 600)
    store = RedisAsyncResultBackend.set_result

    async def store_as_the_bot_gives_up(
        backend: RedisAsyncResultBackend[Any], task_id: str, result: TaskiqResult[Any]
    ) -> None:
        await marks.cancel(task_id)
        await store(backend, task_id, result)

    monkeypatch.setattr(RedisAsyncResultBackend, "set_result", store_as_the_bot_gives_up)
    broker = build_broker(settings)
    await broker.startup()
    task_id = uuid.uuid4().hex
    kicker: AsyncKicker[object, object] = AsyncKicker(TASK_NAME, broker, {})
    job = make_job(b"text:given up at the last moment", "n.ogg", settings)
    with structlog.testing.capture_logs() as logs:
        async with worker(settings, ScriptedAudioTranscriber()):
            await kicker.with_task_id(task_id).kiq(job)
            mark = f"voice-notes:cancelled:{task_id}"
            await asyncio.wait_for(until_exists(client, mark), 30)  # set as it was stored
            await asyncio.wait_for(queued_jobs(client, 0), 30)  # acknowledged: stored by now
    await broker.shutdown()
    assert await result_keys(client) == []
    assert "job_result_dropped" in [e["event"] for e in logs]
    await client.aclose()


async def live_notes(manager: FileSessionManager, chat_id: int, count: int) -> Session:
    session = await manager.create_session(chat_id=chat_id)
    for n in range(count):
        data = (FIXTURES / "speech_01.ogg").read_bytes()
        session = await add_note(manager, session, message_id=n + 1, data=data)
    return session


async def test_cancelled_and_forgotten_notes_are_not_transcribed_and_leave_nothing_in_redis(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    settings = settings_for(redis.url, live_transcription=True, transcription_concurrency=4)
    client = Redis.from_url(redis.url)
    queue = QueueTranscriber(settings, poll_seconds=0.02)
    await queue.start()
    service = TranscriptionService(manager, queue, settings)
    await service.start()
    try:
        # Recorded while no worker is up: each note's job waits in the queue.
        cancelled = await live_notes(manager, chat_id=1, count=2)
        forgotten = await live_notes(manager, chat_id=2, count=2)
        jobs = await queued_jobs(client, 4)
        task_ids = [json.loads(job[b"data"])["task_id"] for job in jobs]
        await manager.cancel_session(cancelled.session_id)
        await manager.delete_session(forgotten.session_id)
        await asyncio.wait_for(service.wait_idle(), 30)  # the bot waits for none of them

        late = await start_worker(redis, tmp_path, workers)
        await asyncio.wait_for(queued_jobs(client, 0), 120)  # each acknowledged, and dropped
        assert late.count("job_skipped_cancelled") == 4
        assert late.count("job_done") == 0
        left = await everything_in(client)
        for task_id in task_ids:
            assert not any(task_id.encode() in key for key in left if b"cancelled" not in key)
        assert not any(key.startswith(RESULT_PREFIX.encode()) for key in left)
        stored = await manager.require_session(cancelled.session_id)
        assert stored.state is SessionState.ERROR
    finally:
        await service.stop()
        await queue.aclose()
        await client.aclose()
