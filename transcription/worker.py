"""``python -m transcription.worker``: a stand-alone transcription worker.

Loads the model once, takes jobs from the Redis stream (``REDIS_URL``) until SIGTERM or
SIGINT, then stops taking new ones. A job it had not finished is not acknowledged, so
another worker takes it over once its claim lapses (``TRANSCRIPTION_QUEUE_IDLE_SECONDS``).
Hardware settings (``WHISPER_DEVICE``, ``WHISPER_COMPUTE_TYPE``, ``WHISPER_CPU_THREADS``)
are this machine's; the model and decoding settings come with each job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from taskiq.api import run_receiver_task

from runtime.log_setup import configure_logging
from runtime.settings import LogSettings, describe_invalid
from transcription.broker import build_broker
from transcription.engine import ModelLoadError, WhisperTranscriber
from transcription.jobs import JobMarks, redact_url
from transcription.queue import JOB_SETTINGS, register_transcription_task
from transcription.settings import TranscriptionSettings
from transcription.speaker_turns import SpeakerTurns

_log = structlog.get_logger("transcription.worker")

STOP_GRACE_SECONDS = 3.0
# Each loaded model holds its weights in memory (gigabytes for large-v3): keep a few at most.
MODEL_CACHE_SIZE = 2


async def load_transcriber(
    settings: TranscriptionSettings, speaker_turns: SpeakerTurns | None = None
) -> WhisperTranscriber:
    """A WhisperTranscriber with its model loaded (off the event loop), and the process's
    diarizer for jobs that ask for speaker turns."""
    transcriber = WhisperTranscriber(settings, speaker_turns)
    await transcriber.start()
    return transcriber


class ModelCache:
    """Loaded models keyed on the job's decoding settings, at most ``size``, least recently
    used evicted (and closed) first.

    The decoding settings come from the job; everything else (device, compute type,
    threads) is this worker's own.
    """

    def __init__(
        self,
        local: TranscriptionSettings,
        *,
        size: int = MODEL_CACHE_SIZE,
        load: Callable[[TranscriptionSettings], Awaitable[WhisperTranscriber]] = load_transcriber,
    ) -> None:
        self._local = local
        self._size = size
        self._load = load
        self._loaded: OrderedDict[tuple[object, ...], WhisperTranscriber] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, job: TranscriptionSettings) -> WhisperTranscriber:
        key = tuple(getattr(job, name) for name in JOB_SETTINGS)
        async with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            merged = self._local.model_copy(update={n: getattr(job, n) for n in JOB_SETTINGS})
            transcriber = await self._load(merged)
            self._loaded[key] = transcriber
            while len(self._loaded) > self._size:
                _, evicted = self._loaded.popitem(last=False)
                # Calls already running finish in the background; the threads then go.
                await evicted.aclose()
                _log.info("model_evicted", model=evicted.model_source, cached=len(self._loaded))
            return transcriber

    async def aclose(self) -> None:
        """Close every loaded model."""
        for transcriber in self._loaded.values():
            await transcriber.aclose()
        self._loaded.clear()


async def serve(settings: TranscriptionSettings) -> None:
    # One diarizer for the process, shared by its models, loaded at the first job asking for
    # turns (the bot decides that: its DIARIZATION and the chat's /speakers travel with it).
    # On one BLAS thread, whatever Whisper's count (see DIARIZER_THREADS).
    turns = SpeakerTurns()
    models = ModelCache(settings, load=partial(load_transcriber, speaker_turns=turns))
    await models.get(settings)  # load now: a bad model fails at start, not on the first job
    broker = build_broker(settings)
    redis = Redis.from_url(settings.redis_url)
    marks = JobMarks(redis, settings.transcription_result_ttl_seconds)
    register_transcription_task(broker, models.get, marks)
    broker.is_worker_process = True
    await broker.startup()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    receiver = asyncio.create_task(
        run_receiver_task(broker, max_async_tasks=settings.transcription_concurrency)
    )
    _log.info("worker_started", redis=redact_url(settings.redis_url), pid=os.getpid())
    await stopping.wait()
    receiver.cancel()
    # taskiq's receiver can absorb a cancellation in some phases; never wait on it for long.
    # Jobs not acknowledged by now are taken over by other workers once their claim lapses.
    await asyncio.wait({receiver}, timeout=STOP_GRACE_SECONDS)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(broker.shutdown(), STOP_GRACE_SECONDS)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(redis.aclose(), STOP_GRACE_SECONDS)
    await models.aclose()
    _log.info("worker_stopped")


def main() -> int:
    try:
        log = LogSettings()
        settings = TranscriptionSettings()
    except ValidationError as exc:
        print(f"transcription worker: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    configure_logging(log.log_level, log.log_format, secrets=settings.secrets)
    try:
        asyncio.run(serve(settings))
    except ModelLoadError as exc:
        print(f"transcription worker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for an inference thread that is still running
