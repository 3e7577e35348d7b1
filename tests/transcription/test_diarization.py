"""The shipped diarizer on real files: two voices taking turns, one voice, silence."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio

from transcription.diarization import Diarization, DiarizationUnavailable, assign_speakers
from transcription.diarization import diarizer as diarizer_module
from transcription.diarization.diarizer import VoiceDiarizer, load_diarizer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COLLAR = 0.3  # seconds a found boundary may be off the true one


@pytest.fixture(scope="module")
def diarizer() -> VoiceDiarizer:
    return load_diarizer()


@pytest.fixture(scope="module")
def truth() -> list[dict[str, object]]:
    turns: list[dict[str, object]] = json.loads((FIXTURES / "two_voices.json").read_text())["turns"]
    return turns


def check_two_voices(result: Diarization, truth: list[dict[str, object]]) -> None:
    assert result.speakers == 2
    spans = [(float(t["start"]), float(t["end"])) for t in truth]  # type: ignore[arg-type]
    found = assign_speakers(spans, result.turns)
    expected = [int(t["speaker"]) for t in truth]  # type: ignore[call-overload]
    assert found in (expected, [1 - k for k in expected])
    assert len(result.turns) == len(truth)
    for turn, (start, end) in zip(result.turns, spans, strict=True):
        assert turn.start == pytest.approx(start, abs=COLLAR)
        assert turn.end == pytest.approx(end, abs=COLLAR)
    assert all(a.end <= b.start for a, b in zip(result.turns, result.turns[1:], strict=False))
    for centroid in result.centroids:
        assert np.linalg.norm(centroid) == pytest.approx(1.0, abs=1e-5)


def test_two_voices_come_back_as_two_speakers_in_turns(
    diarizer: VoiceDiarizer, truth: list[dict[str, object]]
) -> None:
    result = diarizer.diarize(decode_audio(str(FIXTURES / "two_voices.ogg")))
    check_two_voices(result, truth)
    assert result.turns[0].speaker == 0  # speakers numbered by first turn


def test_other_sample_rates_are_resampled(
    diarizer: VoiceDiarizer, truth: list[dict[str, object]]
) -> None:
    audio = decode_audio(str(FIXTURES / "two_voices.ogg"), sampling_rate=8000)
    check_two_voices(diarizer.diarize(audio, sample_rate=8000), truth)


@pytest.mark.parametrize("name", ["speech_04.ogg", "speech_03.ogg"])
def test_one_voice_is_one_speaker(diarizer: VoiceDiarizer, name: str) -> None:
    result = diarizer.diarize(decode_audio(str(FIXTURES / name)))
    assert result.speakers == 1
    assert {t.speaker for t in result.turns} == {0}
    assert len(result.centroids) == 1


def test_silence_has_no_turns(diarizer: VoiceDiarizer) -> None:
    assert diarizer.diarize(decode_audio(str(FIXTURES / "silence.ogg"))) == Diarization([], [])
    assert diarizer.diarize(np.zeros(0, dtype=np.float32)) == Diarization([], [])


def test_given_speech_regions_bound_the_turns(
    diarizer: VoiceDiarizer, truth: list[dict[str, object]]
) -> None:
    audio = decode_audio(str(FIXTURES / "two_voices.ogg"))
    first, second = truth[0], truth[1]
    speech = [
        (float(first["start"]), float(first["end"])),  # type: ignore[arg-type]
        (float(second["start"]), float(second["end"])),
    ]  # type: ignore[arg-type]
    result = diarizer.diarize(audio, speech=speech)
    assert [(t.start, t.end) for t in result.turns] == speech
    assert [t.speaker for t in result.turns] == [0, 1]


def test_concurrent_calls_give_the_same_answer(diarizer: VoiceDiarizer) -> None:
    audio = decode_audio(str(FIXTURES / "two_voices.ogg"))
    expected = diarizer.diarize(audio)
    results: list[Diarization] = []

    def run() -> None:
        results.append(diarizer.diarize(audio))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.turns for r in results] == [expected.turns] * 3


def test_missing_weights_make_the_diarizer_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diarizer_module.VoiceEncoder, "load", _missing)
    with pytest.raises(DiarizationUnavailable, match="weights"):
        load_diarizer()


def _missing() -> None:
    raise DiarizationUnavailable("The voice encoder's weights (voice_encoder.npz) are missing.")


def test_long_audio_is_searched_for_speech_piece_by_piece(
    truth: list[dict[str, object]],
) -> None:
    from transcription.diarization.diarizer import find_speech

    audio = decode_audio(str(FIXTURES / "two_voices.ogg"))
    whole = find_speech(audio)
    pieces = find_speech(audio, piece=2.0)  # every turn is cut by a piece's end
    assert len(pieces) == len(whole) == len(truth)
    for (a_start, a_end), (b_start, b_end) in zip(pieces, whole, strict=True):
        assert a_start == pytest.approx(b_start, abs=0.2)
        assert a_end == pytest.approx(b_end, abs=0.2)
