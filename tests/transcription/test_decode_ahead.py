"""The next note's audio decoded while the model works on this one: the decoded audio is the
file's as it is now or nothing, the scheduler names the entry taken next, the service hands
its audio file to the transcriber, and the real model's text is the same either way."""

from __future__ import annotations

import asyncio
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faster_whisper import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from sessions import FileSessionManager, SessionState
from tests.conftest import FIXTURES, TIMEOUT_SCALE, add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import (
    TranscriptionService,
    TranscriptionSettings,
    TranscriptResult,
    WhisperTranscriber,
)
from transcription.decode_ahead import DecodeAhead
from transcription.engine import AudioPrefetcher
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.scheduler import EntryKey, EntryScheduler, finalized_priority
from transcription.speech_only import find_speech

RATE = 16000
SENTENCES = ("speech_01.ogg", "speech_02.ogg")
WAIT = 10 * TIMEOUT_SCALE


@pytest.fixture
def ahead() -> Iterator[DecodeAhead]:
    decoder = DecodeAhead(RATE, keep=2)
    yield decoder
    decoder.close()


def paused_note(folder: Path) -> Path:
    """A WAV note: two sentences with three seconds of silence between them."""
    first, second = (decode_audio(str(FIXTURES / n), sampling_rate=RATE) for n in SENTENCES)
    audio = np.concatenate([first, np.zeros(3 * RATE, dtype=np.float32), second])
    path = folder / "paused.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def copy(name: str, folder: Path, as_name: str | None = None) -> Path:
    target = folder / (as_name or name)
    shutil.copyfile(FIXTURES / name, target)
    return target


def test_a_file_decoded_ahead_is_what_the_model_would_decode(
    ahead: DecodeAhead, tmp_path: Path
) -> None:
    path = copy("speech_01.ogg", tmp_path)
    ahead.start(path)
    ahead.start(path)  # asked twice: decoded once, taken once
    decoded = ahead.take(path)
    assert decoded is not None
    assert np.array_equal(decoded.audio, decode_audio(str(path), sampling_rate=RATE))
    assert decoded.speech is None  # VAD not asked for
    assert ahead.take(path) is None  # handed over: the next run decodes for itself


def test_with_vad_the_speech_is_found_ahead_as_faster_whisper_finds_it(tmp_path: Path) -> None:
    path = paused_note(tmp_path)
    decoder = DecodeAhead(RATE, vad=True)
    try:
        decoder.start(path)
        decoded = decoder.take(path)
    finally:
        decoder.close()
    assert decoded is not None
    assert decoded.speech is not None
    audio = decode_audio(str(path), sampling_rate=RATE)
    chunks = get_speech_timestamps(audio, VadOptions())
    assert len(chunks) >= 2  # the pause between the two sentences is left out
    assert decoded.speech.chunks == chunks
    kept = np.concatenate([audio[c["start"] : c["end"]] for c in chunks])
    assert np.array_equal(decoded.speech.audio, kept)
    assert decoded.speech.seconds < len(audio) / RATE - 2  # most of the pause is gone

    silent = copy("silence.ogg", tmp_path)
    speech = find_speech(decode_audio(str(silent), sampling_rate=RATE), RATE)
    assert speech is not None
    assert speech.chunks == []
    assert speech.seconds == 0.0


def test_nothing_started_changed_or_undecodable_is_left_to_the_run(
    ahead: DecodeAhead, tmp_path: Path
) -> None:
    never = copy("speech_01.ogg", tmp_path, "never.ogg")
    assert ahead.take(never) is None

    changed = copy("speech_01.ogg", tmp_path, "changed.ogg")
    ahead.start(changed)
    ahead._executor.submit(lambda: None).result()  # the decode is done
    shutil.copyfile(FIXTURES / "speech_02.ogg", changed)  # replaced after it was read
    assert ahead.take(changed) is None

    corrupt = copy("corrupt.ogg", tmp_path)
    ahead.start(corrupt)
    assert ahead.take(corrupt) is None

    gone = copy("speech_01.ogg", tmp_path, "gone.ogg")
    ahead.start(gone)
    ahead._executor.submit(lambda: None).result()
    gone.unlink()
    assert ahead.take(gone) is None


def test_only_the_newest_decodes_are_kept(ahead: DecodeAhead, tmp_path: Path) -> None:
    paths = [copy("speech_01.ogg", tmp_path, f"{n}.ogg") for n in range(3)]
    for path in paths:
        ahead.start(path)
    assert ahead.take(paths[0]) is None  # the oldest made way (keep=2)
    assert ahead.take(paths[1]) is not None
    assert ahead.take(paths[2]) is not None


async def test_the_scheduler_names_the_entry_taken_next_while_its_workers_are_busy() -> None:
    announced: list[EntryKey] = []
    gate = asyncio.Event()

    async def run(key: EntryKey) -> int:
        await gate.wait()
        return key.sequence

    scheduler: EntryScheduler[int] = EntryScheduler(run, 1, ahead=announced.append)
    scheduler.start()
    try:
        keys = [EntryKey("s", n) for n in (1, 2, 3)]
        first = scheduler.submit(keys[0], finalized_priority(0, 1))
        await asyncio.sleep(0)  # taken by the one worker: nothing waits, nothing named
        assert announced == []
        futures = [scheduler.submit(k, finalized_priority(0, k.sequence)) for k in keys[1:]]
        assert announced == [keys[1]]  # the best waiting one, once
        gate.set()
        assert await asyncio.wait_for(asyncio.gather(first, *futures), WAIT) == [1, 2, 3]
        assert announced == [keys[1], keys[2]]  # 3 named when 2 was taken
    finally:
        await scheduler.stop()


class PrefetchingTranscriber(ScriptedTranscriber):
    """Records the files it is told to prepare."""

    def __init__(self) -> None:
        super().__init__()
        self.prefetched: list[Path] = []
        self.hinted = asyncio.Event()

    def prefetch(self, path: Path) -> None:
        self.prefetched.append(path)
        self.hinted.set()

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        # The first note is held until the service has named the next one's file.
        await asyncio.wait_for(self.hinted.wait(), WAIT)
        return await super().transcribe(path, options)


async def test_the_service_hands_the_next_notes_audio_to_the_transcriber(
    manager: FileSessionManager,
) -> None:
    fake = PrefetchingTranscriber()
    assert isinstance(fake, AudioPrefetcher)
    session = await manager.create_session(chat_id=1)
    for n in range(3):
        await add_note(manager, session, message_id=n + 1, data=f"text:note {n}".encode())
    service = TranscriptionService(manager, fake, TranscriptionSettings())
    await service.start()
    try:
        await manager.finalize_session(session.session_id)
        await asyncio.wait_for(service.wait_idle(), WAIT)
    finally:
        await service.stop()
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.TRANSCRIBED
    audio = manager.get_session_path(session.session_id) / "audio"
    assert fake.prefetched[0] == audio / "002_audio.ogg"  # named while note 1 ran
    assert {p.name for p in fake.prefetched} <= {"002_audio.ogg", "003_audio.ogg"}


@pytest.mark.slow
@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
async def test_the_real_model_gives_the_same_transcript_from_audio_decoded_ahead(
    tmp_path: Path, vad: bool
) -> None:
    """Text, segment times (mapped back past the pause), duration and speech: the same
    whether the run decoded the note (and found its speech) itself or had it done ahead."""
    whisper = WhisperTranscriber(
        TranscriptionSettings(whisper_cpu_threads=1, whisper_vad_filter=vad)
    )
    whisper.load()
    taken: list[Any] = []
    take = whisper._ahead.take

    def recorded(path: Path) -> Any:
        taken.append(take(path))
        return taken[-1]

    whisper._ahead.take = recorded  # type: ignore[method-assign]
    try:
        path = paused_note(tmp_path)
        plain = await whisper.transcribe(path)
        assert taken == [None]
        whisper.prefetch(path)
        ahead = await whisper.transcribe(path)
        assert taken[-1] is not None  # the run used the audio decoded ahead
        assert (taken[-1].speech is not None) is vad
        assert ahead.text == plain.text
        assert len(plain.segments) >= 2
        assert ahead.segments == plain.segments
        assert ahead.duration_seconds == plain.duration_seconds
        assert ahead.speech_seconds == plain.speech_seconds
        if vad:  # the second sentence is placed after the pause, where it is in the note
            assert plain.speech_seconds is not None
            assert plain.speech_seconds < plain.duration_seconds - 2
            assert plain.segments[-1].end > plain.speech_seconds
    finally:
        await whisper.aclose()
