"""Speaker diarization's cost in the bot's own pipeline: the diarize step of a note.

    python -m benchmarks.diarization_pipeline [--turns 60] [--seed 2027] [--repeats 3]
                                              [--threads N]

Builds what the bot builds with ``DIARIZATION=true`` (``bot.startup.speaker_turns_for`` and a
``WhisperTranscriber`` with the bundled tiny.en, the environment's ``WHISPER_*`` settings),
then for tests/fixtures/two_voices.ogg and one longer two-voice espeak-ng conversation of
``--turns`` turns (benchmarks/conversations.py), written to a WAV file:
- Whisper's transcript of the file (not timed here);
- the first diarize step of the process (``SpeakerTurns.apply``, what the engine runs after
  Whisper: the diarizer's load, the Silero VAD's first session, the embedding, clustering,
  turns), then ``--repeats`` more, timed each: seconds over the audio's duration;
- one whole note through ``transcribe_sync`` with and without ``DecodeOptions(diarize=True)``.
``--threads`` overrides the diarizer's BLAS threads (default: what the bot uses) to compare.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from benchmarks.conversations import RATE, FloatArray, conversation, random_voices
from benchmarks.diarization import peak_rss_mb
from bot.startup import speaker_turns_for
from sessions import Transcript
from transcription.engine import WhisperTranscriber
from transcription.options import DecodeOptions
from transcription.settings import TranscriptionSettings
from transcription.speaker_turns import SpeakerTurns

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "two_voices.ogg"


def write_wav(audio: FloatArray, path: Path) -> None:
    """16 kHz mono 16-bit PCM."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())


def diarize_step(turns: SpeakerTurns, path: Path, transcript: Transcript, repeats: int) -> None:
    """Print the diarize step's cost on ``path``: the first call and the median of the rest."""
    from faster_whisper import decode_audio

    audio = decode_audio(str(path), sampling_rate=RATE)
    duration = len(audio) / RATE
    costs = []
    for _ in range(repeats + 1):
        tic = time.perf_counter()
        diarized = turns.apply(audio, transcript, path.name)
        costs.append(time.perf_counter() - tic)
    speakers = len(diarized.speaker_centroids or [])
    warm = statistics.median(costs[1:])
    print(
        f"{path.name}: {duration:.1f} s, {speakers} speakers; diarize step: first "
        f"{costs[0]:.2f} s = {costs[0] / duration:.3f}x, then median {warm:.2f} s = "
        f"{warm / duration:.3f}x (of {[round(c, 2) for c in costs[1:]]})"
    )


def whole_note(transcriber: WhisperTranscriber, path: Path, duration: float) -> None:
    """Print one note's time through ``transcribe_sync`` with and without turns."""
    seconds = {}
    for diarize in (False, True):
        tic = time.perf_counter()
        transcriber.transcribe_sync(path, options=DecodeOptions(diarize=diarize))
        seconds[diarize] = time.perf_counter() - tic
    print(
        f"{path.name}, whole note (decode, Whisper, diarize): {seconds[True]:.2f} s = "
        f"{seconds[True] / duration:.3f}x; without diarize {seconds[False]:.2f} s = "
        f"{seconds[False] / duration:.3f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: what the bot uses")
    args = parser.parse_args()

    settings = TranscriptionSettings(diarization=True)
    turns = speaker_turns_for(settings)
    assert turns is not None
    if args.threads:
        turns = SpeakerTurns(args.threads)
    transcriber = WhisperTranscriber(settings, turns)
    transcriber.load()
    print(
        f"Whisper {Path(transcriber.model_source).name or transcriber.model_source} on "
        f"{transcriber.cpu_threads} threads; diarizer on {turns.threads} BLAS thread(s)"
    )
    rng = random.Random(args.seed)
    long = conversation(rng, random_voices(rng, 2), args.turns)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"conversation_{args.turns}_turns.wav"
        write_wav(long.audio, path)
        files = [FIXTURE, path]
        transcripts = [transcriber.transcribe_sync(p) for p in files]
        before = peak_rss_mb()
        for p, transcript in zip(files, transcripts, strict=True):
            diarize_step(turns, p, transcript, args.repeats)
        print(f"memory: peak {before:.0f} MB after Whisper, {peak_rss_mb():.0f} MB after diarizing")
        for p, transcript in zip(files, transcripts, strict=True):
            whole_note(transcriber, p, transcript.duration_seconds or 1.0)


if __name__ == "__main__":
    main()
