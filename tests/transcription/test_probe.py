"""Measuring how long a recording really is, on real files."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from transcription import probe
from transcription.probe import measure_duration, probe_duration

# Lengths of the espeak-ng fixtures as ffprobe reports them (scripts/make_fixtures.sh).
LENGTHS = {
    "speech_01.ogg": 3.21,
    "speech_02.ogg": 6.10,
    "speech_03.ogg": 10.96,
    "speech_04.ogg": 15.00,
    "silence.ogg": 3.01,
}


@pytest.mark.parametrize(("name", "seconds"), sorted(LENGTHS.items()))
def test_ogg_opus_notes_are_measured(name: str, seconds: float) -> None:
    assert probe_duration(FIXTURES / name) == pytest.approx(seconds, abs=0.01)


def test_a_file_under_a_hidden_temporary_name_is_measured(tmp_path: Path) -> None:
    """Downloads are measured before they get their final name (and extension)."""
    partial = tmp_path / ".002_audio.ogg.part"
    partial.write_bytes((FIXTURES / "speech_02.ogg").read_bytes())
    assert probe_duration(partial) == pytest.approx(6.10, abs=0.01)


def test_a_wav_file_is_measured(tmp_path: Path) -> None:
    path = tmp_path / "two_seconds.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x01" * 32000)
    assert probe_duration(path) == pytest.approx(2.0, abs=0.001)


def test_a_cut_off_file_measures_what_is_there(tmp_path: Path) -> None:
    data = (FIXTURES / "speech_04.ogg").read_bytes()
    path = tmp_path / "half.ogg"
    path.write_bytes(data[: len(data) // 2])
    measured = probe_duration(path)
    assert measured is not None
    assert 4 < measured < 10  # about half of 15 s: the audio present, not a full length


@pytest.mark.parametrize("name", ["corrupt.ogg", "references.json"])
def test_what_is_not_audio_is_not_measured(name: str) -> None:
    assert probe_duration(FIXTURES / name) is None


def test_empty_and_missing_files_are_not_measured(tmp_path: Path) -> None:
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    assert probe_duration(empty) is None
    assert probe_duration(tmp_path / "missing.ogg") is None


async def test_measuring_runs_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = probe.probe_duration

    def spy(path: Path) -> float | None:
        threads.append(threading.current_thread())
        return real(path)

    monkeypatch.setattr(probe, "probe_duration", spy)
    assert await measure_duration(FIXTURES / "speech_01.ogg") == pytest.approx(3.21, abs=0.01)
    assert threads
    assert threads[0] is not threading.main_thread()
