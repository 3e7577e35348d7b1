"""The diarization contract: speaker turns of one recording, the diarizer protocol, its error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt


class DiarizationUnavailable(RuntimeError):
    """The diarizer cannot be loaded here (its weights or a dependency are missing); the
    message is one line meant for people (the owner's log, the bot's reply)."""


@dataclass(frozen=True)
class SpeakerTurn:
    """One speaker talking from ``start`` to ``end`` (seconds); ``speaker`` is 0-based and only
    meaningful within one recording."""

    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class Diarization:
    """Who speaks when in one recording.

    ``turns`` are sorted by start and never overlap; ``centroids[k]`` is a unit-norm voice
    embedding of speaker ``k`` (the mean of its windows' embeddings), used to link the
    speakers of several notes of one session (:func:`link_speakers`). Every speaker index in
    ``turns`` has a centroid; a recording without speech has no turns and no centroids."""

    turns: list[SpeakerTurn]
    centroids: list[list[float]]

    @property
    def speakers(self) -> int:
        """How many distinct speakers the recording has."""
        return len(self.centroids)


class Diarizer(Protocol):
    """Finds who speaks when; blocking and CPU-bound, safe to call from several threads."""

    def diarize(
        self,
        audio: npt.NDArray[np.float32],
        sample_rate: int = 16000,
        speech: list[tuple[float, float]] | None = None,
    ) -> Diarization:
        """Diarize mono ``audio`` (floats in [-1, 1]) at ``sample_rate``. ``speech`` are the
        regions (seconds) that hold speech, if the caller knows them (e.g. from Whisper's VAD);
        without them the diarizer finds them itself."""
        ...
