"""Decoding a note for the model: faster-whisper's samples, without its full garbage
collection (which froze the bot's event loop for about 120 ms a note)."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from faster_whisper import decode_audio

from tests.bot.bot_process import REPO
from tests.conftest import FIXTURES
from transcription.audio import decode

RATE = 16000
FORMATS = [
    "speech_01.ogg",
    "speech_01.m4a",
    "speech_01.mp3",
    "speech_01.wav",
    "speech_02.mp4",
    "silence.ogg",
    "two_voices.ogg",
]


@pytest.mark.parametrize("name", FORMATS)
def test_the_samples_are_faster_whispers(name: str) -> None:
    path = FIXTURES / name
    ours = decode(path, RATE)
    assert ours.dtype == np.float32
    assert np.array_equal(ours, decode_audio(str(path), sampling_rate=RATE))
    with path.open("rb") as stream:  # a stream too, as the engine may be given one
        assert np.array_equal(decode(stream, RATE), ours)


def test_decoding_runs_no_garbage_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    collections: list[object] = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(args) or 0)
    decode(FIXTURES / "speech_03.ogg", RATE)
    assert collections == []
    decode_audio(str(FIXTURES / "speech_03.ogg"), sampling_rate=RATE)
    assert len(collections) == 1  # what faster-whisper does, and this module does not


def test_decoding_leaves_no_cycles_for_the_collector() -> None:
    """Why the collection can go: with the collector off, repeated decodes leave nothing it
    would have to find (in a process of its own, so no other test's garbage counts)."""
    script = (
        "import gc, sys\n"
        "from transcription.audio import decode\n"
        "decode(sys.argv[1], 16000)\n"  # imports and first-call caches settle
        "gc.collect(); gc.disable()\n"
        "for _ in range(10): decode(sys.argv[1], 16000)\n"
        "print(gc.collect())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(FIXTURES / "speech_03.ogg")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert int(done.stdout.strip().splitlines()[-1]) == 0


def test_a_file_that_is_not_audio_raises_pyavs_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises((av.error.FFmpegError, av.error.InvalidDataError)):
        decode(junk, RATE)
