"""From labelled windows to speaker turns, and from turns to transcript segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transcription.diarization.types import SpeakerTurn

MIN_ISLAND = 0.6  # seconds: a shorter run between two other runs of one region is noise
MERGE_GAP = 0.3  # seconds: one speaker's turns closer than this are one turn


@dataclass(frozen=True)
class Window:
    """An embedded stretch of one speech region (seconds) and its speaker label."""

    region: int
    start: float
    end: float
    speaker: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


def _region_runs(region: tuple[float, float], windows: Sequence[Window]) -> list[list[float | int]]:
    """Runs [start, end, speaker] covering ``region``: each instant goes to the window whose
    centre is nearest (overlapping windows split at their midpoints)."""
    ordered = sorted(windows, key=lambda w: w.centre)
    runs: list[list[float | int]] = []
    start = region[0]
    for index, window in enumerate(ordered):
        end = (
            region[1]
            if index == len(ordered) - 1
            else (window.centre + ordered[index + 1].centre) / 2
        )
        end = min(max(end, start), region[1])
        if runs and runs[-1][2] == window.speaker:
            runs[-1][1] = end
        elif end > start:
            runs.append([start, end, window.speaker])
        start = end
    return runs


def _drop_islands(runs: list[list[float | int]], min_island: float) -> list[list[float | int]]:
    """Give each too short run that has a neighbour the speaker of its longer neighbour,
    shortest first, and merge the equal neighbours that result."""
    runs = [list(r) for r in runs]
    while len(runs) > 1:
        lengths = [float(r[1]) - float(r[0]) for r in runs]
        index = min(range(len(runs)), key=lengths.__getitem__)
        if lengths[index] >= min_island:
            break
        neighbours = [j for j in (index - 1, index + 1) if 0 <= j < len(runs)]
        donor = max(neighbours, key=lengths.__getitem__)
        runs[index][2] = runs[donor][2]
        merged: list[list[float | int]] = []
        for run in runs:
            if merged and merged[-1][2] == run[2]:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        runs = merged
    return runs


def build_turns(
    regions: Sequence[tuple[float, float]],
    windows: Sequence[Window],
    min_island: float = MIN_ISLAND,
    merge_gap: float = MERGE_GAP,
) -> list[SpeakerTurn]:
    """Sorted, non-overlapping turns within the speech ``regions`` from their labelled
    ``windows`` (a region without windows is left out)."""
    by_region: dict[int, list[Window]] = {}
    for window in windows:
        by_region.setdefault(window.region, []).append(window)
    turns: list[SpeakerTurn] = []
    for index, region in enumerate(regions):
        if index not in by_region:
            continue
        for start, end, speaker in _drop_islands(
            _region_runs(region, by_region[index]), min_island
        ):
            s, e, k = float(start), float(end), int(speaker)
            if turns and turns[-1].speaker == k and s - turns[-1].end < merge_gap:
                turns[-1] = SpeakerTurn(turns[-1].start, e, k)
            elif turns and s < turns[-1].end:
                turns.append(SpeakerTurn(turns[-1].end, e, k))
            else:
                turns.append(SpeakerTurn(s, e, k))
    return [turn for turn in turns if turn.end > turn.start]


def assign_speakers(
    spans: Sequence[tuple[float, float]], turns: Sequence[SpeakerTurn]
) -> list[int | None]:
    """For each transcript segment ``(start, end)`` (seconds), the speaker whose turns overlap
    it longest (ties: the speaker whose turn starts first); ``None`` when no turn overlaps it.
    A zero-length span takes the speaker of the turn containing its instant, if any."""
    result: list[int | None] = []
    for start, end in spans:
        overlap: dict[int, float] = {}
        for turn in turns:
            if end > start:
                amount = min(end, turn.end) - max(start, turn.start)
                if amount > 0:
                    overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + amount
            elif turn.start <= start <= turn.end:
                overlap.setdefault(turn.speaker, 0.0)
        if not overlap:
            result.append(None)
            continue
        best = max(overlap.values())
        result.append(next(s for s, amount in overlap.items() if amount == best))
    return result
