"""Transcription settings, read from the environment and ``.env``."""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field

from runtime.settings import ProjectSettings


class TranscriptionSettings(ProjectSettings):
    """How speech becomes text. Bigger models and GPUs are settings, not code changes."""

    transcription_backend: Literal["local", "taskiq"] = Field(
        default="local",
        description="local: the model runs in the bot; taskiq: on workers through Redis",
    )
    redis_url: str = "redis://localhost:6379/0"
    transcription_queue_idle_seconds: int = Field(
        default=60,
        ge=3,
        description="a job whose worker stopped renewing its claim this long goes to another",
    )
    transcription_result_ttl_seconds: int = Field(default=86400, ge=60)
    whisper_model: str | None = Field(
        default=None,
        description="unset: the bundled tiny.en; a directory: that model; a name: from the hub",
    )
    whisper_device: Literal["auto", "cpu", "cuda"] = "auto"
    whisper_compute_type: str | None = Field(
        default=None, description="unset: int8 on CPU, float16 on CUDA"
    )
    whisper_language: str | None = Field(
        default=None, description="unset: detect (multilingual models); .en models are English only"
    )
    whisper_beam_size: int = Field(default=5, ge=1, le=20)
    whisper_cpu_threads: int = Field(
        default=0, ge=0, description="0: half the cores, 1 to 4 (measured: BENCHMARKS.md)"
    )
    whisper_vad_filter: bool = True
    whisper_batch_size: int = Field(
        default=0,
        ge=0,
        description="0: plain transcribe; >0: BatchedInferencePipeline with this batch size",
    )
    transcription_concurrency: int = Field(default=1, ge=1, le=16)
    live_transcription: bool = Field(
        default=True,
        description="transcribe each note as soon as it is stored, before /done",
    )
    transcription_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="CPU priority of inference threads (Linux nice); 0 leaves it unchanged",
    )
    diarization: bool = Field(
        default=False,
        description="speaker turns inside a recording, for chats that turn on /speakers",
    )
    transcription_timeout_base_seconds: float = Field(default=120.0, gt=0)
    transcription_timeout_per_audio_second: float = Field(default=2.0, ge=0)
    transcription_retries: int = Field(default=2, ge=0, le=10)
    transcription_retry_backoff_seconds: float = Field(default=2.0, ge=0)

    @property
    def secrets(self) -> list[str]:
        """What these settings hold that must never be shown: the password in ``REDIS_URL``
        (``redis://:pw@host`` or ``?password=pw``)."""
        parts = urlsplit(self.redis_url)
        found = [parts.password or ""]
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
        return [s for s in found if s]

    def timeout_for(self, duration_seconds: float) -> float:
        """Time allowed for one entry: a base plus a multiple of the audio's length."""
        return (
            self.transcription_timeout_base_seconds
            + self.transcription_timeout_per_audio_second * max(duration_seconds, 0.0)
        )
