"""A scripted transcriber for testing the worker's logic without a model.

The "audio" files hold instructions instead of sound:
``text:<words>`` transcribes to the words; ``corrupt`` is undecodable; ``flaky:<n>:<words>``
fails n times with a transient error, then succeeds; ``hang`` never returns.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from transcription import AudioDecodeError, TranscriptResult, TranscriptSegment


class ScriptedTranscriber:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.attempts: Counter[str] = Counter()

    async def transcribe(self, path: Path) -> TranscriptResult:
        self.calls.append(path.name)
        self.attempts[path.name] += 1
        script = path.read_text()
        await asyncio.sleep(0)
        if script == "corrupt":
            raise AudioDecodeError(f"cannot decode {path.name}")
        if script == "hang":
            await asyncio.sleep(3600)
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
