"""The diarizer: speech regions, sliding windows, voice embeddings, clustering, turns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from transcription.diarization.clustering import (
    CLUSTER_THRESHOLD,
    MERGE_DISTANCE,
    MERGE_NOISE,
    centroids,
    cluster_voices,
)
from transcription.diarization.encoder import VoiceEncoder
from transcription.diarization.frontend import HOP, SAMPLE_RATE, MelFrontend, normalize_volume
from transcription.diarization.turns import Window, build_turns
from transcription.diarization.types import Diarization, DiarizationUnavailable, SpeakerTurn

FloatArray = npt.NDArray[np.float32]

WINDOW = 1.6  # seconds: the encoder's training length (Resemblyzer's partial utterances)
STEP = 0.8  # seconds between window starts within a speech region
MIN_FULL = 1.0  # seconds: shorter windows are assigned to a voice, they do not make one
MIN_REGION = 0.25  # seconds: shorter speech regions are left out of the turns
MAX_CLUSTERED = 1500  # windows clustered at most (an n x n matrix); the rest are assigned
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
VAD_PIECE = 300.0  # seconds of audio the VAD sees at once


@dataclass(frozen=True)
class Embedded:
    """A recording's speech regions (seconds), its windows ``(region, start, end)`` and their
    embeddings (one unit-norm row per window)."""

    regions: list[tuple[float, float]]
    planned: list[tuple[int, float, float]]
    embeddings: FloatArray


def find_speech(audio: FloatArray, piece: float = VAD_PIECE) -> list[tuple[float, float]]:
    """Speech regions (seconds) of 16 kHz ``audio`` by the Silero VAD that ships with
    faster-whisper, with short pauses kept apart (turns change in them). Run on ``piece``
    seconds at a time (its batch of an hour would take hundreds of MB); a region cut by a
    piece's end is joined again."""
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError as exc:  # pragma: no cover - faster-whisper is a dependency
        raise DiarizationUnavailable("faster-whisper (its Silero VAD) is not installed.") from exc
    options = VadOptions(min_silence_duration_ms=250, speech_pad_ms=100)
    step = int(piece * SAMPLE_RATE)
    regions: list[tuple[float, float]] = []
    for offset in range(0, len(audio), step):
        stamps = get_speech_timestamps(audio[offset : offset + step], vad_options=options)
        for stamp in stamps:
            start = (offset + stamp["start"]) / SAMPLE_RATE
            end = (offset + stamp["end"]) / SAMPLE_RATE
            if regions and start - regions[-1][1] < 0.05:
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


def _resample(audio: FloatArray, rate: int) -> FloatArray:
    """Linear interpolation to 16 kHz: enough for a voice embedding's 0-8 kHz mel bands."""
    if rate == SAMPLE_RATE:
        return audio
    n = round(len(audio) * SAMPLE_RATE / rate)
    positions = np.arange(n, dtype=np.float64) * (rate / SAMPLE_RATE)
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)


def plan_windows(
    regions: Sequence[tuple[float, float]], window: float = WINDOW, step: float = STEP
) -> list[tuple[int, float, float]]:
    """Windows ``(region, start, end)`` covering each region: ``window`` long every ``step``,
    the last one flush with the region's end; a region shorter than ``window`` is one window."""
    planned: list[tuple[int, float, float]] = []
    for index, (start, end) in enumerate(regions):
        if end - start <= window:
            planned.append((index, start, end))
            continue
        count = int(np.ceil((end - start - window) / step)) + 1
        last = end - window
        for k in range(count):
            s = min(start + k * step, last)
            planned.append((index, s, s + window))
    return planned


class VoiceDiarizer:
    """Diarizes with Resemblyzer's voice encoder (numpy) and agglomerative clustering.
    Holds only read-only state after construction: safe to call from several threads."""

    def __init__(
        self,
        encoder: VoiceEncoder,
        threads: int = 1,
        threshold: float = CLUSTER_THRESHOLD,
        merge: float = MERGE_DISTANCE,
        noise: float = MERGE_NOISE,
    ) -> None:
        self._encoder = encoder
        self._frontend = MelFrontend()
        self._threads = max(1, threads)
        self._threshold = threshold
        self._merge = merge
        self._noise = noise

    def diarize(
        self,
        audio: FloatArray,
        sample_rate: int = SAMPLE_RATE,
        speech: list[tuple[float, float]] | None = None,
    ) -> Diarization:
        """See :class:`transcription.diarization.types.Diarizer`: turns within the speech
        regions, speakers numbered 0.. in order of their first turn."""
        return self.decide(self.embed(audio, sample_rate, speech))

    def embed(
        self,
        audio: FloatArray,
        sample_rate: int = SAMPLE_RATE,
        speech: list[tuple[float, float]] | None = None,
    ) -> Embedded:
        """The costly half of :meth:`diarize`: speech regions and their windows' embeddings."""
        wav = normalize_volume(_resample(np.asarray(audio, dtype=np.float32).ravel(), sample_rate))
        duration = len(wav) / SAMPLE_RATE
        if speech is None:
            speech = find_speech(wav)
        regions = []
        for start, end in sorted(speech):
            start, end = max(0.0, start), min(duration, end)
            if end - start >= MIN_REGION:
                regions.append((start, end))
        planned = plan_windows(regions)
        if not planned:
            return Embedded(regions, planned, np.zeros((0, 256), dtype=np.float32))
        return Embedded(regions, planned, self._embed(wav, planned))

    def decide(
        self,
        embedded: Embedded,
        threshold: float | None = None,
        merge: float | None = None,
        noise: float | None = None,
    ) -> Diarization:
        """The cheap half of :meth:`diarize`: clustering (at ``threshold``, ``merge`` and
        ``noise``, by default the diarizer's own; see :func:`cluster_voices`) and turns."""
        if not embedded.planned:
            return Diarization(turns=[], centroids=[])
        labels = _labels(
            embedded.embeddings,
            embedded.planned,
            self._threshold if threshold is None else threshold,
            self._merge if merge is None else merge,
            self._noise if noise is None else noise,
        )
        windows = [
            Window(r, s, e, k) for (r, s, e), k in zip(embedded.planned, labels, strict=True)
        ]
        return _finish(build_turns(embedded.regions, windows), windows, embedded.embeddings)

    def _embed(self, wav: FloatArray, planned: Sequence[tuple[int, float, float]]) -> FloatArray:
        """One embedding per planned window; windows of equal length are batched together."""
        mel = self._frontend.frames(wav)
        spans = []
        for _, start, end in planned:
            first = round(start * FRAMES_PER_SECOND)
            spans.append((first, max(first + 1, round(end * FRAMES_PER_SECOND))))
        groups: dict[int, list[int]] = {}
        for index, (first, last) in enumerate(spans):
            groups.setdefault(last - first, []).append(index)
        out = np.zeros((len(planned), 256), dtype=np.float32)
        jobs = []
        for length, members in groups.items():
            for chunk in range(0, len(members), 64):
                part = members[chunk : chunk + 64]
                batch = np.zeros((len(part), length, mel.shape[1]), dtype=np.float32)
                for row, index in enumerate(part):
                    piece = mel[spans[index][0] : spans[index][1]]
                    batch[row, : len(piece)] = piece
                jobs.append((part, batch))
        # The LSTM's many small matrix products are slower, not faster, on many BLAS threads
        # (and those fight Whisper's for the cores): bounded while the encoder runs.
        # Imported here: the package imports without the extra, load_diarizer says it lacks it.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self._threads, user_api="blas"):
            for part, batch in jobs:
                out[part] = self._encoder.embed(batch)
        return out


def _labels(
    embeddings: FloatArray,
    planned: Sequence[tuple[int, float, float]],
    threshold: float,
    merge: float,
    noise: float,
) -> list[int]:
    """Cluster the full-length windows (at most MAX_CLUSTERED of them, evenly spread),
    then give every window the voice of its nearest centroid (centred as they were)."""
    full = [i for i, (_, s, e) in enumerate(planned) if e - s >= MIN_FULL]
    if not full:
        full = list(range(len(planned)))
    if len(full) > MAX_CLUSTERED:
        full = [full[i] for i in np.linspace(0, len(full) - 1, MAX_CLUSTERED).astype(int)]
    chosen = embeddings[full]
    labels = cluster_voices(chosen, threshold, merge, noise)
    mean = chosen.mean(axis=0) if len(full) > 1 else np.zeros_like(chosen[0])
    centres = centroids(chosen - mean, labels)
    nearest: list[int] = np.argmax((embeddings - mean) @ centres.T, axis=1).tolist()
    return nearest


def _finish(
    turns: Sequence[SpeakerTurn], windows: Sequence[Window], embeddings: FloatArray
) -> Diarization:
    """Renumber the speakers left in ``turns`` 0.. in order of first turn, with centroids."""
    numbers: dict[int, int] = {}
    for turn in turns:
        numbers.setdefault(turn.speaker, len(numbers))
    renumbered = [SpeakerTurn(t.start, t.end, numbers[t.speaker]) for t in turns]
    rows = [i for i, w in enumerate(windows) if w.speaker in numbers]
    labels = [numbers[windows[i].speaker] for i in rows]
    centres = centroids(embeddings[rows], labels) if rows else np.zeros((0, 256), np.float32)
    return Diarization(turns=renumbered, centroids=centres.tolist())


def load_diarizer(threads: int = 1) -> VoiceDiarizer:
    """The shipped diarizer, its weights loaded; ``threads`` bounds the BLAS threads its
    encoder uses. Raises :class:`DiarizationUnavailable` (one line for people) if the weights
    or a dependency (the ``diarization`` extra, faster-whisper's VAD) are missing."""
    try:
        import faster_whisper.vad  # noqa: F401  (the VAD, checked now rather than per note)
        import threadpoolctl  # noqa: F401
    except ImportError as exc:
        raise DiarizationUnavailable(
            f"Speaker diarization needs {exc.name}: pip install 'voice-notes-bot[diarization]'."
        ) from exc
    return VoiceDiarizer(VoiceEncoder.load(), threads=threads)
