"""What travels through Redis between the bot and the workers: validated JSON, never pickle.

Whoever can write to Redis must not get code execution in the bot or a worker, so every
value read back (a job, its result, a mark) is parsed as JSON into a pydantic model and
anything else is refused. Besides the job stream and the results, two small marks per job
live in Redis for a while: ``started`` (a worker took the job: the bot's run timeout starts
now, the time before was queue waiting) and ``cancelled`` (the bot gave up on the job: it
timed out, or its note was cancelled or forgotten). A worker skips a cancelled job it has
not started, and stores no result for one cancelled while it ran; the bot deletes the
result as it gives up. Either order of the two sides ends with no result kept: the bot
writes its mark before it deletes, the worker checks the mark again after it stores.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from transcription.engine import TranscriptResult
from transcription.options import DecodeOptions

QUEUE_NAME = "voice-notes:transcribe"
TASK_NAME = "voice_notes.transcribe"
CONSUMER_GROUP = "voice-notes-workers"
RESULT_PREFIX = "voice-notes:result"
_STARTED_PREFIX = "voice-notes:started"
_CANCELLED_PREFIX = "voice-notes:cancelled"


def result_key(task_id: str) -> str:
    """Where the result backend keeps the job's result (taskiq-redis: prefix, colon, id)."""
    return f"{RESULT_PREFIX}:{task_id}"


class JobSettings(BaseModel):
    """The decoding settings a job carries; hardware settings stay with each worker."""

    model_config = ConfigDict(extra="forbid")

    whisper_model: str | None = Field(default=None, max_length=1000)
    whisper_language: str | None = Field(default=None, max_length=20)
    whisper_beam_size: int = Field(default=5, ge=1, le=20)
    whisper_vad_filter: bool = True
    whisper_batch_size: int = Field(default=0, ge=0, le=256)


# The names of the settings that come from the bot with each job.
JOB_SETTINGS: tuple[str, ...] = tuple(JobSettings.model_fields)


class Job(BaseModel):
    """One audio file to transcribe: its bytes (base64), the deployment's decoding settings
    and its chat's own (``options``: language, vocabulary). The chat's options are kept
    apart from ``settings`` because a worker keys its loaded models on ``settings``: a
    chat's vocabulary must not load a model of its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=255)
    audio_b64: str
    settings: JobSettings
    options: DecodeOptions = DecodeOptions()


class JobOutcome(BaseModel):
    """What a worker returns for a job: exactly one of a result, an error, or a skip."""

    model_config = ConfigDict(extra="forbid")

    result: TranscriptResult | None = None
    decode_error: str | None = None
    error: str | None = None
    skipped: bool = False
    run_seconds: float = Field(default=0.0, ge=0)


class StartedMark(BaseModel):
    """Written by the worker that takes a job, before it runs it."""

    worker: str = Field(max_length=200)
    started_at: float


def redact_url(url: str) -> str:
    """``url`` without its user name, password or ``password=`` parameter, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


class JobMarks:
    """The ``started`` and ``cancelled`` marks of jobs, kept in Redis for ``ttl_seconds``."""

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def mark_started(self, task_id: str, worker: str) -> None:
        mark = StartedMark(worker=worker, started_at=time.time())
        await self._redis.set(f"{_STARTED_PREFIX}:{task_id}", mark.model_dump_json(), ex=self._ttl)

    async def started(self, task_id: str) -> StartedMark | None:
        """The mark if a worker took the job; None if not (or if the mark is not valid)."""
        raw: Any = await self._redis.get(f"{_STARTED_PREFIX}:{task_id}")
        if raw is None:
            return None
        try:
            return StartedMark.model_validate_json(raw)
        except ValueError:
            return None

    async def cancel(self, task_id: str) -> None:
        """Give up on the job: mark it cancelled, and delete its result if one is there
        (one stored later is deleted by the worker, which checks this mark after storing)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{_CANCELLED_PREFIX}:{task_id}", b"1", ex=self._ttl)
            pipe.delete(result_key(task_id))
            await pipe.execute()

    async def delete_result(self, task_id: str) -> bool:
        """Delete the job's result; whether there was one."""
        return bool(await self._redis.delete(result_key(task_id)))

    async def is_cancelled(self, task_id: str) -> bool:
        return bool(await self._redis.exists(f"{_CANCELLED_PREFIX}:{task_id}"))
