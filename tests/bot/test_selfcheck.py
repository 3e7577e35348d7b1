"""``python -m bot check``'s speaker-turns line, in-process against the real diarization engine:
no line with diarization off, ok when the diarizer loads, FAIL with the reason in one line
when its extra is missing (a real import failure), and the workers' word with taskiq. The
whole check, in its own process, is tested in tests/bot/test_e2e_startup.py."""

from __future__ import annotations

import io
import sys

import pytest

from bot.selfcheck import Report, check_speaker_turns
from transcription.settings import TranscriptionSettings

pytestmark = pytest.mark.timeout(60)


async def _lines(settings: TranscriptionSettings) -> tuple[list[str], bool]:
    out = io.StringIO()
    report = Report(out)
    await check_speaker_turns(settings, report)
    return out.getvalue().splitlines(), report.failed


async def test_no_line_without_diarization() -> None:
    assert await _lines(TranscriptionSettings(_env_file=None)) == ([], False)  # type: ignore[call-arg]


async def test_the_diarizer_loads() -> None:
    settings = TranscriptionSettings(_env_file=None, diarization=True)  # type: ignore[call-arg]
    [line], failed = await _lines(settings)
    assert line.startswith("ok    speaker turns: the diarizer loads (")
    assert not failed


async def test_a_missing_extra_fails_in_one_line_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails: not installed
    settings = TranscriptionSettings(_env_file=None, diarization=True)  # type: ignore[call-arg]
    [line], failed = await _lines(settings)
    assert line == (
        "FAIL  speaker turns: DIARIZATION=true, but the diarizer does not load: Speaker "
        "diarization needs threadpoolctl: pip install 'voice-notes-bot[diarization]'."
    )
    assert failed


async def test_with_taskiq_the_workers_diarize() -> None:
    settings = TranscriptionSettings(  # type: ignore[call-arg]
        _env_file=None, diarization=True, transcription_backend="taskiq"
    )
    [line], failed = await _lines(settings)
    assert line == "ok    speaker turns: diarized by the workers (TRANSCRIPTION_BACKEND=taskiq)"
    assert not failed
