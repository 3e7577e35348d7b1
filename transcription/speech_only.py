"""Voice activity detection ahead of the model, with faster-whisper's own steps.

With ``vad_filter=True`` faster-whisper runs Silero VAD over the whole note in the calling
thread before the model starts (about 4 % of tiny.en's time on one thread here), keeps only
the speech and, as segments come out, maps their times back onto the note. The same three
steps are done here, the first two in the decode-ahead thread while the model works on the
note before: :func:`find_speech` (``get_speech_timestamps`` and ``collect_chunks`` with
faster-whisper's default options, as ``transcribe`` calls them) and :func:`restore_times`
(its ``restore_speech_timestamps``). The run then passes the speech alone with VAD off; text
and times are those of a run with VAD on (a test compares the two with the real model).

These are faster-whisper's module functions, not its documented API: if an installed version
lacks them, :func:`find_speech` returns None and the run does its own VAD, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from transcription.audio import Audio

_log = structlog.get_logger("transcription.speech_only")


@dataclass(frozen=True)
class Speech:
    """A note's speech, found ahead: ``audio`` is what the model should hear, ``chunks``
    where each part lies in the note (faster-whisper's dicts of sample offsets)."""

    audio: Audio
    chunks: list[dict[str, int]]
    sampling_rate: int

    @property
    def seconds(self) -> float:
        """The length of the speech kept (faster-whisper's ``duration_after_vad``)."""
        return float(self.audio.shape[0]) / self.sampling_rate


def find_speech(audio: Audio, sampling_rate: int) -> Speech | None:
    """The speech in ``audio`` as faster-whisper's ``vad_filter=True`` keeps it with its
    default options; None when this faster-whisper has not these steps (the run then
    filters for itself)."""
    try:
        from faster_whisper.transcribe import restore_speech_timestamps  # noqa: F401
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps
    except ImportError as exc:  # pragma: no cover - depends on the installed version
        _log.debug("speech_ahead_unavailable", error=repr(exc))
        return None
    chunks: list[dict[str, int]] = get_speech_timestamps(audio, VadOptions())
    collected: Any = collect_chunks(audio, chunks)
    # faster-whisper >= 1.1 returns (audio chunks, their metadata); it concatenates them.
    parts = collected[0] if isinstance(collected, tuple) else [collected]
    return Speech(np.concatenate(parts, axis=0), chunks, sampling_rate)


def restore_times(segments: Iterable[Any], speech: Speech) -> Iterable[Any]:
    """``segments`` of a run over ``speech.audio``, their times put back onto the note."""
    if not speech.chunks:  # no speech: nothing to map (faster-whisper skips it too)
        return segments
    from faster_whisper.transcribe import restore_speech_timestamps

    restored: Iterator[Any] = restore_speech_timestamps(
        segments, speech.chunks, speech.sampling_rate
    )
    return restored
