"""Transcription through taskiq and a real Redis: several workers, crashes, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from sessions import FileSessionManager, Session, SessionState, TranscriptionStatus
from tests.conftest import FIXTURES, TIMEOUT_SCALE, add_note
from tests.redis_server import RedisServer
from tests.wer import word_error_rate
from transcription import TranscriptionSettings, transcribe_session
from transcription.queue import QUEUE_NAME, QueueTranscriber

# Upper bounds only, for a machine whose cores are all busy (real inference on one thread).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]
RUN_BOUND_SECONDS = 300
REPO = Path(__file__).resolve().parents[2]
REFERENCES: dict[str, str] = json.loads((FIXTURES / "references.json").read_text())


class WorkerProcess:
    """``python -m transcription.worker`` with its JSON log in a file.

    Its claim on a job lapses after ``idle_seconds`` without renewal. Only the test of a
    killed worker shortens it: with a short one, a busy machine that delays a renewal would
    hand a running job to a second worker, and the tests would depend on the machine's speed.
    """

    def __init__(
        self,
        redis_url: str,
        log_path: Path,
        idle_seconds: int = 60,
        env: dict[str, str] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.log_path = log_path
        self.idle_seconds = idle_seconds
        self.extra_env = env or {}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> WorkerProcess:
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "TRANSCRIPTION_QUEUE_IDLE_SECONDS": str(self.idle_seconds),
            "WHISPER_CPU_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "LOG_FORMAT": "json",
            **self.extra_env,
        }
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "transcription.worker",
                cwd=REPO, env=env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        await self.wait_event("worker_started", timeout=180)
        return self

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    found.append(item)
        return found

    def count(self, event: str) -> int:
        return sum(e.get("event") == event for e in self.events())

    async def wait_event(self, event: str, timeout: float = 180) -> None:  # noqa: ASYNC109
        for _ in range(int(timeout / 0.05)):
            if self.count(event):
                return
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(self.log_path.read_text())
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no {event}: {self.log_path.read_text()[-2000:]}")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), 60 * TIMEOUT_SCALE)


@pytest.fixture
async def workers(redis: RedisServer, tmp_path: Path) -> AsyncIterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        with contextlib.suppress(Exception):
            await worker.stop(signal.SIGKILL)


async def start_worker(
    redis: RedisServer,
    tmp_path: Path,
    workers: list[WorkerProcess],
    idle_seconds: int = 60,
    env: dict[str, str] | None = None,
) -> WorkerProcess:
    log_path = tmp_path / f"worker-{len(workers)}.log"
    worker = WorkerProcess(redis.url, log_path, idle_seconds, env)
    workers.append(worker)
    return await worker.start()


async def queued_session(manager: FileSessionManager, names: list[str]) -> Session:
    session = await manager.create_session(chat_id=1)
    for n, name in enumerate(names):
        await add_note(manager, session, message_id=n, data=(FIXTURES / name).read_bytes())
    return await manager.finalize_session(session.session_id)


def settings_for(redis: RedisServer, concurrency: int = 2) -> TranscriptionSettings:
    return TranscriptionSettings(
        transcription_backend="taskiq",
        redis_url=redis.url,
        transcription_concurrency=concurrency,
        transcription_retry_backoff_seconds=0.5,
        transcription_retries=4,
    )


def check_transcripts(manager: FileSessionManager, session: Session, names: list[str]) -> None:
    assert session.state is SessionState.TRANSCRIBED
    assert [e.transcription_status for e in session.audio_entries] == [
        TranscriptionStatus.COMPLETED
    ] * len(names)
    text = (manager.get_session_path(session.session_id) / "process/input.txt").read_text()
    paragraphs = text.strip().split("\n\n")
    assert len(paragraphs) == len(names)
    for paragraph, name in zip(paragraphs, names, strict=True):
        assert word_error_rate(REFERENCES[name], paragraph) <= 0.3, paragraph


async def test_two_workers_share_a_session(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    first, second = await asyncio.gather(
        start_worker(redis, tmp_path, workers), start_worker(redis, tmp_path, workers)
    )
    names = ["speech_02.ogg", "speech_01.ogg", "speech_03.ogg", "speech_01.ogg"]
    session = await queued_session(manager, names)
    queue = QueueTranscriber(settings_for(redis))
    await queue.start()
    try:
        done = await transcribe_session(manager, queue, session.session_id, queue.settings)
    finally:
        await queue.aclose()
    check_transcripts(manager, done, names)
    client = Redis.from_url(redis.url)
    try:
        assert await client.xlen(QUEUE_NAME) == 0  # finished jobs leave no audio behind
    finally:
        await client.aclose()
    assert first.count("job_done") >= 1
    assert second.count("job_done") >= 1
    assert first.count("job_done") + second.count("job_done") == len(names)


async def test_corrupt_audio_through_the_queue_fails_its_entry_only(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    await start_worker(redis, tmp_path, workers)
    session = await queued_session(manager, ["speech_01.ogg", "corrupt.ogg"])
    queue = QueueTranscriber(settings_for(redis))
    await queue.start()
    try:
        done = await transcribe_session(manager, queue, session.session_id, queue.settings)
    finally:
        await queue.aclose()
    assert [e.transcription_status for e in done.audio_entries] == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.FAILED,
    ]
    assert [(e.code, e.sequence) for e in done.errors] == [("decode_failed", 2)]


async def test_worker_killed_mid_job_its_job_is_taken_over(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    doomed = await start_worker(redis, tmp_path, workers, idle_seconds=3)
    names = ["speech_04.ogg", "speech_01.ogg"]
    session = await queued_session(manager, names)
    queue = QueueTranscriber(settings_for(redis, concurrency=1))
    await queue.start()
    try:
        run = asyncio.create_task(
            transcribe_session(manager, queue, session.session_id, queue.settings)
        )
        await doomed.wait_event("job_started")
        assert doomed.count("job_done") == 0
        await doomed.stop(signal.SIGKILL)
        rescuer = await start_worker(redis, tmp_path, workers, idle_seconds=3)
        done = await asyncio.wait_for(run, RUN_BOUND_SECONDS)
    finally:
        await queue.aclose()
    check_transcripts(manager, done, names)
    assert rescuer.count("job_reclaimed") >= 1  # the dead worker's job, not a new one
    assert rescuer.count("job_done") == 2


async def test_redis_restart_during_a_run(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    worker = await start_worker(redis, tmp_path, workers)
    names = ["speech_02.ogg", "speech_01.ogg", "speech_01.ogg"]
    session = await queued_session(manager, names)
    queue = QueueTranscriber(settings_for(redis, concurrency=1))
    await queue.start()
    try:
        run = asyncio.create_task(
            transcribe_session(manager, queue, session.session_id, queue.settings)
        )
        await worker.wait_event("job_started")
        await redis.restart(down_seconds=1.0)
        done = await asyncio.wait_for(run, RUN_BOUND_SECONDS)
    finally:
        await queue.aclose()
    check_transcripts(manager, done, names)
    assert worker.proc is not None
    assert worker.proc.returncode is None  # the worker rode out the restart


async def test_worker_stops_cleanly_on_sigterm(
    redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    worker = await start_worker(redis, tmp_path, workers)
    assert await worker.stop(signal.SIGTERM) == 0
    assert worker.count("worker_stopped") == 1


async def test_a_worker_behind_a_password_keeps_its_own_hardware_settings(
    manager: FileSessionManager, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    password = "worker-secret-123"
    server = RedisServer(tmp_path / "redis-auth", password=password)
    await server.start()
    try:
        worker = await start_worker(
            server, tmp_path, workers, env={"WHISPER_COMPUTE_TYPE": "float32"}
        )
        names = ["speech_01.ogg"]
        session = await queued_session(manager, names)
        # The bot's own hardware settings must not reach the worker; its decoding ones must.
        bot = settings_for(server, concurrency=1).model_copy(
            update={"whisper_beam_size": 1, "whisper_compute_type": "int8_float16"}
        )
        queue = QueueTranscriber(bot)
        await queue.start()
        try:
            done = await transcribe_session(manager, queue, session.session_id, bot)
        finally:
            await queue.aclose()
    finally:
        await server.stop()
    check_transcripts(manager, done, names)
    loaded = [e for e in worker.events() if e.get("event") == "whisper_model_loaded"]
    assert {(e["compute_type"], e["cpu_threads"]) for e in loaded} == {("float32", 1)}
    (started,) = [e for e in worker.events() if e.get("event") == "job_started"]
    assert started["beam_size"] == 1
    assert password not in worker.log_path.read_text()
