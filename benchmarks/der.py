"""Diarization error rate (DER), scored on a 10 ms grid with a collar around reference
boundaries, as NIST's md-eval does it: (missed + false alarm + confusion) / reference speech,
hypothesis speakers mapped one to one onto reference speakers to maximise their overlap."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Turn = tuple[float, float, int]  # start s, end s, speaker (any integer label)
STEP = 0.01  # seconds per scoring frame


@dataclass(frozen=True)
class DerParts:
    """Seconds of scored reference speech and of each kind of error."""

    speech: float
    missed: float
    false_alarm: float
    confusion: float

    @property
    def der(self) -> float:
        """The error rate: all errors over the reference speech (0 when there is none)."""
        errors = self.missed + self.false_alarm + self.confusion
        return errors / self.speech if self.speech > 0 else 0.0

    def __add__(self, other: DerParts) -> DerParts:
        return DerParts(
            self.speech + other.speech,
            self.missed + other.missed,
            self.false_alarm + other.false_alarm,
            self.confusion + other.confusion,
        )


def _activity(turns: Sequence[Turn], frames: int) -> tuple[list[int], npt.NDArray[np.bool_]]:
    """The speakers of ``turns`` and a (speakers, frames) activity matrix."""
    speakers = sorted({speaker for _, _, speaker in turns})
    active = np.zeros((len(speakers), frames), dtype=bool)
    for start, end, speaker in turns:
        a, b = round(start / STEP), round(end / STEP)
        active[speakers.index(speaker), max(0, a) : max(0, b)] = True
    return speakers, active


def _best_mapping(overlap: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Pairs (reference, hypothesis) maximising the summed overlap, one to one: exhaustive
    for up to 8 speakers on the smaller side, greedy beyond."""
    n_ref, n_hyp = overlap.shape
    if min(n_ref, n_hyp) == 0:
        return []
    if max(n_ref, n_hyp) <= 8:
        best: list[tuple[int, int]] = []
        best_score = -1
        if n_ref <= n_hyp:
            for perm in itertools.permutations(range(n_hyp), n_ref):
                score = int(sum(overlap[r, h] for r, h in enumerate(perm)))
                if score > best_score:
                    best_score, best = score, list(enumerate(perm))
        else:
            for perm in itertools.permutations(range(n_ref), n_hyp):
                score = int(sum(overlap[r, h] for h, r in enumerate(perm)))
                if score > best_score:
                    best_score, best = score, [(r, h) for h, r in enumerate(perm)]
        return best
    pairs: list[tuple[int, int]] = []
    work = overlap.astype(float)
    for _ in range(min(n_ref, n_hyp)):
        r, h = np.unravel_index(int(np.argmax(work)), work.shape)
        pairs.append((int(r), int(h)))
        work[r, :] = -1
        work[:, h] = -1
    return pairs


def der_parts(
    reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.25
) -> DerParts:
    """Score ``hypothesis`` against ``reference`` (overlapping speech allowed in both);
    ``collar`` seconds either side of every reference turn's start and end are not scored."""
    end = max([e for _, e, _ in [*reference, *hypothesis]], default=0.0)
    frames = round(end / STEP) + 1
    _, ref = _activity(reference, frames)
    _, hyp = _activity(hypothesis, frames)
    scored = np.ones(frames, dtype=bool)
    width = round(collar / STEP)
    for start, stop, _ in reference:
        for edge in (round(start / STEP), round(stop / STEP)):
            scored[max(0, edge - width) : max(0, edge + width)] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)
    correct = np.zeros(ref.shape[1], dtype=np.int64)
    for r, h in _best_mapping(overlap):
        correct += ref[r] & hyp[h]
    return DerParts(
        speech=float(n_ref.sum()) * STEP,
        missed=float(np.maximum(0, n_ref - n_hyp).sum()) * STEP,
        false_alarm=float(np.maximum(0, n_hyp - n_ref).sum()) * STEP,
        confusion=float((np.minimum(n_ref, n_hyp) - correct).sum()) * STEP,
    )


def der(reference: Sequence[Turn], hypothesis: Sequence[Turn], collar: float = 0.25) -> float:
    """The diarization error rate of ``hypothesis`` (see :func:`der_parts`)."""
    return der_parts(reference, hypothesis, collar).der
