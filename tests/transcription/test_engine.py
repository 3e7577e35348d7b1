"""WhisperTranscriber's logic with a fake model: options, bounded threads, the model cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import structlog

from tests.transcription.fakes import FakeWhisperModel
from transcription import TranscriptionSettings, WhisperTranscriber
from transcription.cpu import default_cpu_threads, usable_cores
from transcription.engine import TimedTranscriber
from transcription.jobs import JOB_SETTINGS, redact_url
from transcription.queue import make_job
from transcription.worker import ModelCache


def with_fake_model(settings: TranscriptionSettings, model: FakeWhisperModel) -> WhisperTranscriber:
    transcriber = WhisperTranscriber(settings)
    transcriber._model = model  # no load: the fake stands in for faster-whisper's model
    transcriber._decode = lambda _audio, rate: np.zeros(rate, dtype=np.float32)  # no file
    return transcriber


@pytest.mark.parametrize(("beam", "vad", "language"), [(1, False, None), (5, True, "en")])
async def test_decoding_settings_reach_the_model(
    beam: int, vad: bool, language: str | None
) -> None:
    model = FakeWhisperModel()
    settings = TranscriptionSettings(
        whisper_beam_size=beam, whisper_vad_filter=vad, whisper_language=language
    )
    transcriber = with_fake_model(settings, model)
    try:
        result = await transcriber.transcribe(Path("note.ogg"))
    finally:
        await transcriber.aclose()
    assert model.options == [{"beam_size": beam, "vad_filter": vad, "language": language}]
    assert result.text == "word0 word1 word2"


async def test_a_timed_out_inference_keeps_its_slot_and_stops_at_the_next_segment() -> None:
    gate = threading.Event()
    hung = FakeWhisperModel(segments=5, gate=gate)
    transcriber = with_fake_model(TranscriptionSettings(transcription_concurrency=1), hung)
    assert isinstance(transcriber, TimedTranscriber)
    try:
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(TimeoutError):
                await transcriber.transcribe_timed(Path("hung.ogg"), 0.2)
            # The next call waits for the one thread, however long: waiting is not its run.
            after = asyncio.create_task(transcriber.transcribe_timed(Path("next.ogg"), 1.0))
            await asyncio.sleep(1.5)  # longer than its timeout; a slower machine waits longer
            assert not after.done()
            assert transcriber._executor._max_workers == 1  # no spare thread was started
            gate.set()  # the model yields again: the abandoned call stops at this segment
            result = await asyncio.wait_for(after, 30)
    finally:
        await transcriber.aclose()
    assert hung.yielded == 1 + 5  # the hung call stopped after one segment; the next ran all
    assert result.text.startswith("word0")
    events = [entry["event"] for entry in logs]
    assert "inference_timed_out" in events
    assert "inference_thread_released" in events


async def test_a_cancelled_wait_never_starts_its_inference() -> None:
    gate = threading.Event()
    busy = FakeWhisperModel(segments=1, gate=gate)
    transcriber = with_fake_model(TranscriptionSettings(transcription_concurrency=1), busy)
    try:
        first = asyncio.create_task(transcriber.transcribe_timed(Path("a.ogg"), None))
        second = asyncio.create_task(transcriber.transcribe_timed(Path("b.ogg"), None))
        await asyncio.sleep(0.1)
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second  # given up while the first holds the only thread
        gate.set()
        await asyncio.wait_for(first, 30)
    finally:
        await transcriber.aclose()
    assert len(busy.options) == 1


class Loaded:
    """What ModelCache loads, in place of a WhisperTranscriber with its model."""

    def __init__(self, settings: TranscriptionSettings) -> None:
        self.settings = settings
        self.model_source = settings.whisper_model or "bundled"
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_model_cache_is_bounded_and_closes_what_it_evicts() -> None:
    loaded: list[Loaded] = []

    async def load(settings: TranscriptionSettings) -> WhisperTranscriber:
        loaded.append(Loaded(settings))
        return loaded[-1]  # type: ignore[return-value]

    cache = ModelCache(TranscriptionSettings(), size=2, load=load)
    first = TranscriptionSettings(whisper_beam_size=1)
    second = TranscriptionSettings(whisper_beam_size=2)
    third = TranscriptionSettings(whisper_beam_size=3)
    await cache.get(first)
    await cache.get(second)
    await cache.get(first)  # used again: now the second is the least recently used
    await cache.get(third)
    assert len(loaded) == 3
    assert [m.closed for m in loaded] == [False, True, False]
    await cache.get(first)  # still cached
    assert len(loaded) == 3
    await cache.aclose()
    assert all(m.closed for m in loaded)


async def test_decoding_settings_come_from_the_job_hardware_from_the_worker() -> None:
    bot = TranscriptionSettings(
        whisper_model="small",
        whisper_language="de",
        whisper_beam_size=2,
        whisper_vad_filter=False,
        whisper_batch_size=4,
        whisper_device="cuda",
        whisper_compute_type="float16",
        whisper_cpu_threads=8,
    )
    job = make_job(b"audio", "001_audio.ogg", bot)
    assert set(job["settings"]) == set(JOB_SETTINGS)  # no hardware setting travels

    worker = TranscriptionSettings(
        whisper_device="cpu", whisper_compute_type="float32", whisper_cpu_threads=1
    )
    loaded: list[TranscriptionSettings] = []

    async def load(settings: TranscriptionSettings) -> WhisperTranscriber:
        loaded.append(settings)
        return Loaded(settings)  # type: ignore[return-value]

    await ModelCache(worker, load=load).get(TranscriptionSettings.model_validate(job["settings"]))
    used = loaded[0]
    assert (used.whisper_model, used.whisper_language, used.whisper_beam_size) == ("small", "de", 2)
    assert (used.whisper_vad_filter, used.whisper_batch_size) == (False, 4)
    assert (used.whisper_device, used.whisper_compute_type, used.whisper_cpu_threads) == (
        "cpu",
        "float32",
        1,
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@redis.lan:6379/0", "redis://redis.lan:6379/0"),
        ("redis://bot:s3cret@redis.lan:6380/2", "redis://redis.lan:6380/2"),
        ("rediss://bot:s3cret@redis.lan/0?password=s3cret&ssl_cert_reqs=none",
         "rediss://redis.lan/0?ssl_cert_reqs=none"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ],
)  # fmt: skip
def test_redis_url_is_logged_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 4), (64, 4)])
def test_zero_cpu_threads_means_half_the_cores_from_one_to_four(cores: int, threads: int) -> None:
    """WHISPER_CPU_THREADS=0 is half the usable cores, 1 to 4 (one thread measured fastest
    on 2 idle cores); a count that is set is used as it is."""
    assert default_cpu_threads(cores) == threads
    default = WhisperTranscriber(TranscriptionSettings(_env_file=None, whisper_cpu_threads=0))  # type: ignore[call-arg]
    assert default.cpu_threads == default_cpu_threads(usable_cores())
    chosen = WhisperTranscriber(TranscriptionSettings(_env_file=None, whisper_cpu_threads=3))  # type: ignore[call-arg]
    assert chosen.cpu_threads == 3


_BLAS_THREADS_SCRIPT = """
import json
import threadpoolctl
from transcription import TranscriptionSettings, WhisperTranscriber

def blas() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

import numpy  # noqa: F401 - loaded as faster-whisper loads it, with its own thread count
before = blas()
WhisperTranscriber(TranscriptionSettings(_env_file=None, whisper_cpu_threads=1)).load()
print(json.dumps({"before": before, "after": blas()}))
"""


@pytest.mark.slow
def test_loading_the_model_keeps_numpys_blas_to_one_thread() -> None:
    """numpy's OpenBLAS starts a thread per core; once the model is loaded it uses one, so
    no helper spins on the core the rest of the bot needs (a fresh process: the limit is
    process-wide)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _BLAS_THREADS_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"], "numpy's BLAS was not found"
    if usable_cores() > 1:
        assert max(seen["before"]) > 1  # numpy's own default: more than one
    assert seen["after"] == [1] * len(seen["before"])
