"""The benchmark's DER: the standard parts, the collar, the speaker mapping, overlap."""

from __future__ import annotations

import pytest

from benchmarks.der import der, der_parts


def test_perfect_hypothesis_with_other_labels_scores_zero() -> None:
    reference = [(0.0, 2.0, 7), (2.0, 5.0, 3)]
    hypothesis = [(0.0, 2.0, 1), (2.0, 5.0, 0)]
    assert der(reference, hypothesis) == pytest.approx(0.0)


def test_missed_false_alarm_and_confusion_are_counted_apart() -> None:
    reference = [(0.0, 10.0, 0), (10.0, 20.0, 1)]
    # 0-8 right, 8-10 missed, 10-14 wrong speaker (0), 14-20 right; 20-23 false alarm.
    hypothesis = [(0.0, 8.0, 0), (10.0, 14.0, 0), (14.0, 23.0, 1)]
    parts = der_parts(reference, hypothesis, collar=0.0)
    assert parts.speech == pytest.approx(20.0)
    assert parts.missed == pytest.approx(2.0)
    assert parts.false_alarm == pytest.approx(3.0)
    assert parts.confusion == pytest.approx(4.0)
    assert parts.der == pytest.approx(9.0 / 20.0)


def test_collar_forgives_boundary_errors_only() -> None:
    reference = [(1.0, 5.0, 0), (5.0, 9.0, 1)]
    shifted = [(1.2, 5.2, 0), (5.2, 9.0, 1)]  # boundaries 0.2 s late: inside the collar
    assert der(reference, shifted, collar=0.25) == pytest.approx(0.0)
    assert der(reference, shifted, collar=0.0) > 0.04
    late = [(1.0, 6.0, 0), (6.0, 9.0, 1)]  # 1 s late: 0.75 s of it outside the collar
    assert der(reference, late, collar=0.25) == pytest.approx(0.75 / 7.0, abs=0.01)


def test_mapping_is_one_to_one() -> None:
    reference = [(0.0, 5.0, 0), (5.0, 10.0, 1)]
    one_label = [(0.0, 10.0, 0)]
    assert der(reference, one_label, collar=0.0) == pytest.approx(0.5)
    split = [(0.0, 5.0, 0), (5.0, 7.0, 1), (7.0, 10.0, 2)]
    # speaker 1 maps onto label 2 (3 s), so 5-7 s is confusion.
    assert der(reference, split, collar=0.0) == pytest.approx(2.0 / 10.0)


def test_overlapping_reference_speech_counts_twice() -> None:
    reference = [(0.0, 6.0, 0), (4.0, 10.0, 1)]  # 2 s of overlap: 12 s of speech
    hypothesis = [(0.0, 5.0, 0), (5.0, 10.0, 1)]
    parts = der_parts(reference, hypothesis, collar=0.0)
    assert parts.speech == pytest.approx(12.0)
    assert parts.missed == pytest.approx(2.0)
    assert parts.confusion == pytest.approx(0.0)


def test_no_reference_speech_is_zero_not_a_division_error() -> None:
    assert der([], [(0.0, 1.0, 0)]) == 0.0
