"""Transcription on other machines: taskiq over Redis Streams.

The bot stays the only writer of session state. A job carries the audio itself (bytes,
base64 in JSON; voice notes are at most 20 MB) and the decoding settings; a worker
returns the transcript. No filesystem is shared. The model and decoding options come
from the bot's settings; the hardware (device, compute type, threads) from the worker's.

:class:`ReliableStreamBroker` hardens taskiq-redis's stream broker for this:

- a job is acknowledged only once its result is saved (taskiq's ``WHEN_SAVED``), and is
  then deleted from the stream, so finished jobs' audio does not pile up in Redis;
- while a worker runs a job it renews its claim, so ``idle_timeout`` can be short (a
  minute) yet a twenty-minute job is never handed to a second worker;
- a job whose worker died (no renewal for ``idle_timeout``) is claimed by another on its
  next round, whether or not new jobs arrive;
- a lost Redis connection (a restart) is waited out instead of ending the worker.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import aiofiles
import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AsyncBroker, AsyncTaskiqTask, Context, TaskiqDepends
from taskiq.kicker import AsyncKicker

from transcription.broker import build_broker
from transcription.engine import AudioDecodeError, TranscriptResult
from transcription.jobs import (
    JOB_SETTINGS,
    QUEUE_NAME,
    TASK_NAME,
    Job,
    JobMarks,
    JobOutcome,
    JobSettings,
    redact_url,
)
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.queue")

__all__ = [
    "JOB_SETTINGS",
    "QUEUE_NAME",
    "TASK_NAME",
    "QueueTranscriber",
    "RemoteTranscriptionError",
    "register_transcription_task",
]
_MARK_DEADLINE_SECONDS = 2.0  # a mark that cannot be written by then is not worth waiting for
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class RemoteTranscriptionError(Exception):
    """A worker failed on a job (not a decode error): transient, worth a retry."""


def make_job(
    audio: bytes,
    name: str,
    settings: TranscriptionSettings,
    options: DecodeOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """The job for one audio file: its bytes and the settings that shape the transcript
    (the deployment's, and its chat's ``options``)."""
    job = Job(
        name=name,
        audio_b64=base64.b64encode(audio).decode(),
        settings=JobSettings.model_validate(settings.model_dump(include=set(JOB_SETTINGS))),
        options=options,
    )
    return job.model_dump(mode="json")


class BadJobResult(Exception):
    """What came back from Redis is not a valid result (refused, never executed)."""


class QueueTranscriber:
    """The bot's side: sends each file as a job and waits for its result.

    The wait has two parts. Queue waiting (behind other jobs, or until a worker is up) has no
    limit; the run timeout starts when a worker marks the job started. A job given up on
    (timed out, or the wait cancelled) is marked cancelled, so a worker that has not started
    it yet skips it.
    """

    def __init__(
        self,
        settings: TranscriptionSettings,
        broker: AsyncBroker | None = None,
        *,
        poll_seconds: float = 0.1,
    ) -> None:
        self.settings = settings
        self.broker = broker or build_broker(settings)
        self._poll = poll_seconds
        self._redis: Redis | None = None
        self._marks: JobMarks | None = None

    async def start(self) -> None:
        """Connect, and make sure the stream and its consumer group exist."""
        await self.broker.startup()
        self._redis = Redis.from_url(self.settings.redis_url)
        self._marks = JobMarks(self._redis, self.settings.transcription_result_ttl_seconds)
        _log.info("queue_connected", redis=redact_url(self.settings.redis_url))

    async def aclose(self) -> None:
        """Disconnect from Redis; jobs still waiting for a worker stay queued."""
        await self.broker.shutdown()
        if self._redis is not None:
            await self._redis.aclose()

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        return await self.transcribe_timed(path, None, options)

    async def transcribe_timed(
        self, path: Path, run_timeout: float | None, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        """Transcribe ``path`` on a worker; TimeoutError once the run (not the queue waiting
        before it) takes longer than ``run_timeout`` seconds."""
        if self._marks is None:
            raise RuntimeError("QueueTranscriber.start() was not called")
        async with aiofiles.open(path, "rb") as handle:
            audio = await handle.read()
        # The id is chosen here, so a job given up on while it is being sent is cancelled too.
        task_id = uuid.uuid4().hex
        log = _log.bind(task_id=task_id, name=path.name)
        kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, self.broker, {})
        queued = time.monotonic()
        finished = False
        try:
            job = make_job(audio, path.name, self.settings, options)
            task = await kicker.with_task_id(task_id).kiq(job)
            await self._wait_started(task, self._marks)
            started = time.monotonic()
            deadline = None if run_timeout is None else started + run_timeout
            while not await task.is_ready():
                if deadline is not None and time.monotonic() >= deadline:
                    log.warning(
                        "job_timed_out",
                        queue_wait_seconds=round(started - queued, 2),
                        run_timeout_seconds=run_timeout,
                    )
                    raise TimeoutError(f"the worker took longer than {run_timeout:.0f} s")
                await self._pause()
            finished = True
        finally:
            if not finished:
                await self._give_up(task_id, self._marks)
        outcome = await self._outcome(task, path.name)
        log.info(
            "job_finished",
            queue_wait_seconds=round(started - queued, 2),
            run_seconds=round(outcome.run_seconds, 2),
        )
        if outcome.decode_error is not None:
            raise AudioDecodeError(outcome.decode_error)
        if outcome.error is not None or outcome.skipped:
            reason = outcome.error or "the job was cancelled"
            raise RemoteTranscriptionError(f"worker failed on {path.name}: {reason}")
        if outcome.result is None:
            raise BadJobResult(f"the result for {path.name} holds no transcript")
        return outcome.result

    async def _wait_started(self, task: AsyncTaskiqTask[Any], marks: JobMarks) -> None:
        # No limit: a job waiting behind others (or for a worker to come up) is not late.
        # Redis has no notification for a key written by another client here: poll.
        while await marks.started(task.task_id) is None and not await task.is_ready():
            await self._pause()

    async def _pause(self) -> None:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            # redis-py can swallow a cancellation that lands mid-command (seen on a busy
            # machine): honour it here, or a shutdown would wait on this loop for ever.
            raise asyncio.CancelledError
        await asyncio.sleep(self._poll)

    async def _give_up(self, task_id: str, marks: JobMarks) -> None:
        try:
            await asyncio.wait_for(marks.cancel(task_id), _MARK_DEADLINE_SECONDS)
        except (TimeoutError, RedisError, OSError) as exc:
            _log.warning("job_cancel_mark_failed", task_id=task_id, error=repr(exc))

    async def _outcome(self, task: AsyncTaskiqTask[Any], name: str) -> JobOutcome:
        try:
            result = await task.get_result()
        except (ValueError, UnicodeError, TypeError) as exc:  # not JSON, or not a result
            _log.error("job_result_refused", task_id=task.task_id, error=repr(exc)[:200])
            raise BadJobResult(f"the result for {name} is not valid JSON data") from exc
        if result.is_err:
            raise RemoteTranscriptionError(f"worker failed on {name}: {result.error}")
        try:
            return JobOutcome.model_validate(result.return_value)
        except ValidationError as exc:
            _log.error("job_result_refused", task_id=task.task_id, error=str(exc)[:200])
            raise BadJobResult(f"the result for {name} is not a valid outcome") from exc


class AudioTranscriber(Protocol):
    """What a worker runs a job with (a WhisperTranscriber, or a fake in tests)."""

    async def transcribe_audio(
        self, audio: BinaryIO, name: str, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult: ...


TranscriberFor = Callable[[TranscriptionSettings], Awaitable[AudioTranscriber]]


def register_transcription_task(
    broker: AsyncBroker, transcriber_for: TranscriberFor, marks: JobMarks
) -> None:
    """The worker's side: the task that turns a job into a transcript.

    A job the bot has cancelled is skipped; a started job is marked so (the bot's run
    timeout starts there). Whatever the job holds is validated first.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"

    async def transcribe_job(
        job: dict[str, Any],
        context: Context = TaskiqDepends(),  # noqa: B008 (taskiq's dependency injection)
    ) -> dict[str, Any]:
        task_id = context.message.task_id
        log = _log.bind(task_id=task_id)
        if await marks.is_cancelled(task_id):
            log.info("job_skipped_cancelled")
            return JobOutcome(skipped=True).model_dump(mode="json")
        try:
            parsed = Job.model_validate(job)
            audio = io.BytesIO(base64.b64decode(parsed.audio_b64, validate=True))
        except (ValidationError, binascii.Error) as exc:
            # What is wrong and where, never the values: a job carries a chat's vocabulary.
            log.warning("job_malformed", error=_problems(exc))
            return JobOutcome(error="malformed job").model_dump(mode="json")
        try:
            await marks.mark_started(task_id, worker)
        except (RedisError, OSError) as exc:  # the bot then counts the run from the result
            log.warning("job_started_mark_failed", error=repr(exc))
        settings = TranscriptionSettings.model_validate(parsed.settings.model_dump())
        whisper = await transcriber_for(settings)
        log = log.bind(
            name=parsed.name,
            audio_bytes=len(audio.getbuffer()),
            beam_size=settings.whisper_beam_size,
            language=parsed.options.language_for(settings.whisper_language),
            hotwords=len(parsed.options.hotwords or ""),  # how much, never the words
        )
        log.info("job_started")
        started = time.perf_counter()
        try:
            result = await whisper.transcribe_audio(audio, parsed.name, parsed.options)
        except AudioDecodeError as exc:
            log.info("job_undecodable", error=str(exc))
            return JobOutcome(decode_error=str(exc)).model_dump(mode="json")
        run_seconds = time.perf_counter() - started
        log.info("job_done", seconds=round(run_seconds, 2))
        return JobOutcome(result=result, run_seconds=run_seconds).model_dump(mode="json")

    broker.register_task(transcribe_job, task_name=TASK_NAME)


def _problems(exc: ValidationError | binascii.Error) -> str:
    """A refused job's faults without the values that were refused (they are user data)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'job'}: {e['type']}" for e in exc.errors()
        )[:300]
    return "audio is not valid base64"
