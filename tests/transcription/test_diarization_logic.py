"""Unit tests of the diarization's logic: clustering, turns, alignment with segments, linking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from transcription.diarization import SpeakerTurn, assign_speakers, link_speakers
from transcription.diarization.clustering import average_linkage, cluster, cluster_voices, cut
from transcription.diarization.diarizer import plan_windows
from transcription.diarization.turns import Window, build_turns


def voices(seed: int, counts: list[int], spread: float = 0.15) -> np.ndarray:
    """Unit rows around ``len(counts)`` random non-negative voice directions."""
    rng = np.random.default_rng(seed)
    rows = []
    for count in counts:
        centre = np.abs(rng.normal(size=256))
        for _ in range(count):
            rows.append(centre / np.linalg.norm(centre) + rng.normal(scale=spread / 16, size=256))
    x = np.asarray(rows, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_average_linkage_matches_the_definition() -> None:
    # 1-d points 0, 1, 5, 6, 20: merges {0,1}@1, {5,6}@1, then {0,1,5,6}@average 5, then 20@17.
    points = np.array([0.0, 1.0, 5.0, 6.0, 20.0])
    merges = average_linkage(np.abs(points[:, None] - points[None, :]))
    heights = sorted(h for _, _, h in merges)
    assert heights == pytest.approx([1.0, 1.0, 5.0, 17.0])
    assert cut(5, merges, 1.0) == [0, 0, 1, 1, 2]
    assert cut(5, merges, 10.0) == [0, 0, 0, 0, 1]
    assert cut(5, merges, 0.5) == [0, 1, 2, 3, 4]


def test_cluster_finds_the_groups_and_numbers_them_by_first_row() -> None:
    x = voices(1, [4, 3, 5])
    order = [5, 0, 9, 1, 6, 2, 10, 3, 4, 7, 8, 11]
    labels = cluster(x[order], threshold=0.3)
    assert labels[0] == 0
    groups = [0 if i < 4 else 1 if i < 7 else 2 for i in order]
    assert len(set(labels)) == 3
    assert all(
        (a == b) == (c == d)
        for a, c in zip(labels, groups, strict=True)
        for b, d in zip(labels, groups, strict=True)
    )
    assert cluster(x[:1]) == [0]
    assert cluster(x[:0]) == []


def test_cluster_voices_keeps_one_voice_whole_and_splits_two() -> None:
    one = voices(2, [30], spread=0.3)
    assert set(cluster_voices(one)) == {0}
    two = voices(3, [15, 15], spread=0.3)
    labels = cluster_voices(two)
    assert labels[:15] == [0] * 15
    assert labels[15:] == [1] * 15


def test_plan_windows_cover_each_region_and_end_flush() -> None:
    planned = plan_windows([(0.0, 4.0), (5.0, 5.5)], window=1.6, step=0.8)
    first = [(s, e) for r, s, e in planned if r == 0]
    assert first[0] == (0.0, 1.6)
    assert first[-1][1] == pytest.approx(4.0)
    assert all(e - s == pytest.approx(1.6) for s, e in first)
    assert all(b[0] - a[0] <= 0.8 + 1e-9 for a, b in itertools.pairwise(first))
    assert [(s, e) for r, s, e in planned if r == 1] == [(5.0, 5.5)]


def test_turns_split_overlapping_windows_at_midpoints_and_drop_islands() -> None:
    regions = [(0.0, 6.4), (7.0, 8.0)]
    windows = [
        Window(0, 0.0, 1.6, 0),
        Window(0, 0.8, 2.4, 0),
        Window(0, 1.6, 3.2, 1),  # an island: one window, 0.8 s between its midpoints
        Window(0, 2.4, 4.0, 0),
        Window(0, 3.2, 4.8, 0),
        Window(0, 4.0, 5.6, 1),
        Window(0, 4.8, 6.4, 1),
        Window(1, 7.0, 8.0, 0),
    ]
    turns = build_turns(regions, windows, min_island=1.0)
    assert turns == [
        SpeakerTurn(0.0, pytest.approx(4.4), 0),
        SpeakerTurn(pytest.approx(4.4), 6.4, 1),
        SpeakerTurn(7.0, 8.0, 0),
    ]
    kept = build_turns(regions, windows, min_island=0.5)
    assert [t.speaker for t in kept] == [0, 1, 0, 1, 0]
    assert (kept[1].start, kept[1].end) == pytest.approx((2.0, 2.8))


def test_turns_of_one_speaker_across_a_short_pause_are_one() -> None:
    turns = build_turns(
        [(0.0, 2.0), (2.2, 4.0), (5.0, 6.0)],
        [Window(0, 0.0, 2.0, 0), Window(1, 2.2, 4.0, 0), Window(2, 5.0, 6.0, 0)],
    )
    assert turns == [SpeakerTurn(0.0, 4.0, 0), SpeakerTurn(5.0, 6.0, 0)]


def test_assign_speakers_takes_the_longest_overlap() -> None:
    turns = [
        SpeakerTurn(0.0, 3.0, 0),
        SpeakerTurn(3.0, 5.0, 1),
        SpeakerTurn(5.0, 6.0, 0),
        SpeakerTurn(8.0, 9.0, 1),
    ]
    spans = [(0.5, 2.5), (2.0, 4.5), (2.5, 6.0), (6.5, 7.5), (7.5, 8.2), (8.5, 8.5), (3.0, 3.0)]
    # (2.5, 6.0): speaker 0 for 0.5 + 1.0 s, speaker 1 for 2.0 s.
    # A zero-length span on a boundary: the turn that starts first.
    assert assign_speakers(spans, turns) == [0, 1, 1, None, 1, 1, 0]
    assert assign_speakers([], turns) == []
    assert assign_speakers([(0.0, 1.0)], []) == [None]


def test_link_speakers_gives_one_voice_one_number() -> None:
    a, b, c = (list(map(float, row)) for row in voices(4, [1, 1, 1], spread=0.0))
    near_a = list(map(float, voices(4, [1], spread=0.05)[0]))
    notes = [[b, a], [near_a], [c, b], []]
    assert link_speakers(notes) == [[1, 2], [2], [3, 1], []]
    assert link_speakers([]) == []


def test_link_speakers_never_merges_two_speakers_of_one_note() -> None:
    a = [1.0] + [0.0] * 255
    assert link_speakers([[a, a], [a]]) == [[1, 2], [1]]
    assert link_speakers([[a], [a]], threshold=-1.0) == [[1], [2]]


def test_speakers_are_renumbered_by_first_turn_with_their_centroids() -> None:
    from transcription.diarization.diarizer import _finish

    x = voices(5, [1, 1, 1], spread=0.0)
    windows = [Window(0, 0.0, 1.0, 2), Window(1, 2.0, 3.0, 0), Window(2, 4.0, 5.0, 1)]
    turns = [SpeakerTurn(0.0, 1.0, 2), SpeakerTurn(2.0, 3.0, 0)]  # speaker 1 was dropped
    result = _finish(turns, windows, x)
    assert [t.speaker for t in result.turns] == [0, 1]
    assert np.allclose(result.centroids, [x[0], x[1]], atol=1e-6)
