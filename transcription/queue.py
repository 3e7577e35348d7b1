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
import contextlib
import io
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiofiles
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, AsyncBroker
from taskiq.kicker import AsyncKicker
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from transcription.engine import AudioDecodeError, TranscriptResult, WhisperTranscriber
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.queue")

QUEUE_NAME = "voice-notes:transcribe"
TASK_NAME = "voice_notes.transcribe"
CONSUMER_GROUP = "voice-notes-workers"
# Decoding settings travel with the job; hardware settings stay with the worker.
JOB_SETTINGS = (
    "whisper_model",
    "whisper_language",
    "whisper_beam_size",
    "whisper_vad_filter",
    "whisper_batch_size",
)
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class RemoteTranscriptionError(Exception):
    """A worker failed on a job (not a decode error): transient, worth a retry."""


class ReliableStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker with claim renewal, steady reclaiming and reconnects."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                async for message in self._one_round():
                    yield message
            except _REDIS_DOWN as exc:
                _log.warning("redis_unavailable", error=repr(exc))
                await asyncio.sleep(1.0)
                with contextlib.suppress(*_REDIS_DOWN):
                    await self._declare_consumer_group()  # the stream may be new after a wipe

    async def _one_round(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
            except ResponseError as exc:  # NOGROUP: Redis came back without our stream
                _log.warning("consumer_group_missing", error=str(exc))
                await self._declare_consumer_group()
                return
            for _stream, messages in fetched or []:
                for message_id, fields in messages:
                    yield self._ackable(message_id, fields[b"data"])
            # Every round, not only after new messages: a dead worker's job must not wait
            # for the next job to arrive before it is taken over.
            claimed: Any = await redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
            for message_id, fields in claimed[1]:
                if fields:  # a deleted entry comes back as None
                    _log.info("job_reclaimed", message_id=_text(message_id))
                    yield self._ackable(message_id, fields[b"data"])

    def _ackable(self, message_id: bytes | str, data: bytes) -> AckableMessage:
        renewal = asyncio.create_task(self._renew_claim(message_id))

        async def ack() -> None:
            renewal.cancel()
            # Done with: acknowledge it and drop it, audio and all, from the stream.
            async with (
                Redis(connection_pool=self.connection_pool) as redis,
                redis.pipeline(transaction=True) as pipe,
            ):
                pipe.xack(self.queue_name, self.consumer_group_name, message_id)
                pipe.xdel(self.queue_name, message_id)
                await pipe.execute()

        return AckableMessage(data=data, ack=ack)

    async def _renew_claim(self, message_id: bytes | str) -> None:
        interval = max(self.idle_timeout / 1000 / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(*_REDIS_DOWN, ResponseError):
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=[message_id],
                        justid=True,
                    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def build_broker(settings: TranscriptionSettings) -> ReliableStreamBroker:
    """The broker both sides use: jobs on a Redis stream, results in Redis."""
    backend: RedisAsyncResultBackend[Any] = RedisAsyncResultBackend(
        settings.redis_url, result_ex_time=settings.transcription_result_ttl_seconds
    )
    broker = ReliableStreamBroker(
        settings.redis_url,
        queue_name=QUEUE_NAME,
        consumer_group_name=CONSUMER_GROUP,
        consumer_id="0",  # a group made after jobs were queued still sees them
        idle_timeout=settings.transcription_queue_idle_seconds * 1000,
        xread_block=1000,
        xread_count=1,  # one job at a time per fetch: idle workers get the rest
    )
    return broker.with_result_backend(backend)


def make_job(audio: bytes, name: str, settings: TranscriptionSettings) -> dict[str, Any]:
    """The job for one audio file: its bytes and the settings that shape the transcript."""
    return {
        "name": name,
        "audio_b64": base64.b64encode(audio).decode(),
        "settings": settings.model_dump(include=set(JOB_SETTINGS)),
    }


class QueueTranscriber:
    """The bot's side: sends each file as a job and waits for its result."""

    def __init__(self, settings: TranscriptionSettings, broker: AsyncBroker | None = None) -> None:
        self.settings = settings
        self.broker = broker or build_broker(settings)
        self._kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, self.broker, {})

    async def start(self) -> None:
        """Connect, and make sure the stream and its consumer group exist."""
        await self.broker.startup()

    async def close(self) -> None:
        await self.broker.shutdown()

    async def transcribe(self, path: Path) -> TranscriptResult:
        async with aiofiles.open(path, "rb") as handle:
            audio = await handle.read()
        task = await self._kicker.kiq(make_job(audio, path.name, self.settings))
        result = await task.wait_result(check_interval=0.1)
        if result.is_err:
            raise RemoteTranscriptionError(f"worker failed on {path.name}: {result.error}")
        payload: dict[str, Any] = result.return_value
        if payload.get("decode_error"):
            raise AudioDecodeError(payload["decode_error"])
        return TranscriptResult.model_validate(payload["result"])


TranscriberFor = Callable[[TranscriptionSettings], Awaitable[WhisperTranscriber]]


def register_transcription_task(broker: AsyncBroker, transcriber_for: TranscriberFor) -> None:
    """The worker's side: the task that turns a job into a transcript."""

    async def transcribe_job(job: dict[str, Any]) -> dict[str, Any]:
        settings = TranscriptionSettings.model_validate(job["settings"])
        whisper = await transcriber_for(settings)
        audio = io.BytesIO(base64.b64decode(job["audio_b64"]))
        log = _log.bind(name=job.get("name"), audio_bytes=len(audio.getbuffer()))
        log.info("job_started")
        try:
            result = await whisper.transcribe_audio(audio, str(job.get("name", "audio")))
        except AudioDecodeError as exc:
            log.info("job_undecodable", error=str(exc))
            return {"decode_error": str(exc)}
        log.info("job_done", seconds=round(result.processing_seconds, 2))
        return {"result": result.model_dump(mode="json")}

    broker.register_task(transcribe_job, task_name=TASK_NAME)
