"""A scripted transcriber for testing the worker's logic without a model.

The "audio" files hold instructions instead of sound:
``text:<words>`` transcribes to the words; ``corrupt`` is undecodable; ``flaky:<n>:<words>``
fails n times with a transient error, then succeeds; ``hang`` never returns;
``hang:<n>:<words>`` hangs the first n times, then succeeds.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

from transcription import AudioDecodeError, TranscriptResult, TranscriptSegment
from transcription.options import DEFAULT_OPTIONS, DecodeOptions


class ScriptedTranscriber:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.options: list[DecodeOptions] = []  # each call's chat options, in call order
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        self.calls.append(path.name)
        self.options.append(options)
        self.attempts[path.name] += 1
        script = path.read_text(encoding="utf-8")
        await asyncio.sleep(0)
        if script == "corrupt":
            raise AudioDecodeError(f"cannot decode {path.name}")
        if script == "hang":
            await asyncio.sleep(3600)
        if script.startswith("hang:"):
            _, hangs, words = script.split(":", 2)
            if self.attempts[path.name] <= int(hangs):
                await asyncio.sleep(3600)
            script = f"text:{words}"
        if script.startswith("flaky:"):
            _, failures, words = script.split(":", 2)
            if self.attempts[path.name] <= int(failures):
                raise ConnectionError("transient failure")
            script = f"text:{words}"
        words = script.removeprefix("text:")
        return TranscriptResult(
            text=words,
            language="en",
            duration_seconds=2.0,
            segments=[TranscriptSegment(start=0.0, end=2.0, text=words)] if words else [],
        )


class FakeWhisperModel:
    """Stands in for faster-whisper's WhisperModel: records the options of each call and
    yields ``segments`` segments, each only once ``gate`` is set (a hung model when never)."""

    def __init__(self, segments: int = 3, gate: threading.Event | None = None) -> None:
        self.segments = segments
        self.gate = gate
        self.options: list[dict[str, Any]] = []
        self.yielded = 0

    def transcribe(self, audio: object, **options: Any) -> tuple[Iterator[Any], Any]:
        self.options.append(options)
        info = SimpleNamespace(
            language="en",
            language_probability=1.0,
            duration=float(self.segments),
            duration_after_vad=float(self.segments),
        )
        return self._generate(), info

    def _generate(self) -> Iterator[Any]:
        for n in range(self.segments):
            if self.gate is not None:
                self.gate.wait()
            self.yielded += 1
            yield SimpleNamespace(start=float(n), end=n + 1.0, text=f" word{n}")


class ScriptedAudioTranscriber:
    """The worker's side of a job without a model: the job's audio bytes hold a script.

    ``text:<words>``; ``corrupt``; ``hang-once:<words>`` hangs the first time, then works;
    ``gate:<words>`` waits for ``gate`` to be set. ``running``/``peak`` count calls at once.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.options: list[DecodeOptions] = []
        self.gate = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.changed = asyncio.Condition()

    async def transcribe_audio(
        self, audio: BinaryIO, name: str, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        script = audio.read().decode()
        self.calls.append(name)
        self.options.append(options)
        self.attempts[script] += 1
        async with self.changed:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.changed.notify_all()
        try:
            if script == "corrupt":
                raise AudioDecodeError(f"cannot decode {name}")
            if script.startswith("hang-once:"):
                if self.attempts[script] == 1:
                    await asyncio.Event().wait()
                script = "text:" + script.removeprefix("hang-once:")
            if script.startswith("gate:"):
                await self.gate.wait()
                script = "text:" + script.removeprefix("gate:")
            words = script.removeprefix("text:")
            return TranscriptResult(text=words, language="en", duration_seconds=2.0)
        finally:
            async with self.changed:
                self.running -= 1
                self.changed.notify_all()

    async def wait_running(self, count: int) -> None:
        """Until exactly ``count`` calls run at once."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.running == count)
