"""Synthetic conversations for the diarization benchmark: espeak-ng voices taking turns.

Each speaker is one espeak-ng voice with a variant, a pitch and a speed; a conversation is
2 or 3 such speakers taking short turns, with pauses and some overlapping speech. The truth
is each utterance's audible extent (10 ms frames within 40 dB of the utterance's peak,
pauses under 0.2 s bridged), so a pause inside a turn is not counted as speech.
"""

from __future__ import annotations

import io
import random
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATE = 16000
FloatArray = npt.NDArray[np.float32]
Turn = tuple[float, float, int]

VOICES = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-029", "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3"]
SENTENCES = [
    "Yes, exactly.",
    "No, I don't think so.",
    "Right.",
    "Okay, fine by me.",
    "Could you say that again, please?",
    "We should move the meeting to Thursday afternoon.",
    "The budget for the next quarter is still not approved.",
    "I spoke to the supplier this morning and they promised the parts by Friday.",
    "That sounds good, but who is going to write the report?",
    "Let me check my calendar first.",
    "I think the second option is cheaper in the long run.",
    "The customer called twice yesterday about the delayed delivery.",
    "Maybe we can ask Peter to join the call tomorrow.",
    "We need at least three more people for the project.",
    "The new office has a lot more light than the old one.",
    "Sure, I can do that after lunch.",
    "What time does the train leave?",
    "The numbers from last month look much better than expected.",
    "I would rather wait until we have the final figures.",
    "Please send me the slides before the presentation.",
    "Honestly, I have no idea.",
    "The server was down for almost an hour last night.",
    "Let us keep it short today, everyone is tired.",
    "Good point, I had not thought about that.",
]


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: espeak-ng voice+variant, pitch (0-99) and speed (words/min)."""

    name: str
    variant: str
    pitch: int
    speed: int

    def args(self) -> list[str]:
        return ["-v", f"{self.name}+{self.variant}", "-p", str(self.pitch), "-s", str(self.speed)]


@dataclass(frozen=True)
class Conversation:
    """A mixed conversation (16 kHz mono floats) and its true turns (may overlap)."""

    audio: FloatArray
    turns: list[Turn]
    speakers: int
    text: list[tuple[int, str]]

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE


def resample(audio: npt.NDArray[np.float64], rate: int, target: int = RATE) -> FloatArray:
    """Band-limited resampling by FFT (the whole clip at once; clips are short)."""
    if rate == target:
        return audio.astype(np.float32)
    n = round(len(audio) * target / rate)
    spectrum = np.fft.rfft(audio)
    keep = n // 2 + 1
    if keep <= len(spectrum):
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - len(spectrum), dtype=complex)])
    return (np.fft.irfft(spectrum, n) * (n / len(audio))).astype(np.float32)


def speak(voice: Voice, text: str) -> FloatArray:
    """``text`` spoken by ``voice``: 16 kHz floats with espeak-ng's leading and trailing
    silence cut off."""
    wav_bytes = subprocess.run(
        ["espeak-ng", *voice.args(), "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        rate = reader.getframerate()
        pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    audio = resample(pcm.astype(np.float64) / 32768, rate)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def audible(audio: FloatArray, offset: float) -> list[tuple[float, float]]:
    """The stretches of ``audio`` within 40 dB of its peak (10 ms frames, pauses < 0.2 s
    bridged), in seconds from ``offset``."""
    hop = RATE // 100
    frames = len(audio) // hop
    if frames == 0:
        return []
    energy = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    on = energy > energy.max() * 0.01
    spans: list[tuple[float, float]] = []
    for index in np.flatnonzero(on):
        start, end = offset + index * 0.01, offset + (index + 1) * 0.01
        if spans and start - spans[-1][1] < 0.2:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def random_voices(rng: random.Random, count: int) -> list[Voice]:
    """``count`` distinct voices: distinct espeak-ng variants, each on a random accent, pitch
    and speed (so two speakers never share a variant)."""
    variants = rng.sample(VARIANTS, count)
    return [
        Voice(rng.choice(VOICES), variant, rng.randint(25, 75), rng.randint(140, 200))
        for variant in variants
    ]


def conversation(
    rng: random.Random, voices: list[Voice], turns: int, overlap: float = 0.3
) -> Conversation:
    """``turns`` utterances by ``voices`` in random order (never the same speaker twice in a
    row), gaps of -0.6..0.8 s (a negative gap: the next speaker starts while the last one
    still speaks, in about ``overlap`` of the changes)."""
    pieces: list[tuple[float, FloatArray, int]] = []
    text: list[tuple[int, str]] = []
    cursor, last = 0.5, -1
    for _ in range(turns):
        speaker = rng.choice([k for k in range(len(voices)) if k != last] or [0])
        sentence = rng.choice(SENTENCES)
        audio = speak(voices[speaker], sentence)
        if pieces:
            gap = rng.uniform(-0.6, -0.1) if rng.random() < overlap else rng.uniform(0.1, 0.8)
            cursor = max(pieces[-1][0] + 0.3, cursor + gap)
        pieces.append((cursor, audio, speaker))
        text.append((speaker, sentence))
        cursor += len(audio) / RATE
        last = speaker
    total = int((max(s + len(a) / RATE for s, a, _ in pieces) + 0.5) * RATE)
    mix = np.zeros(total, dtype=np.float32)
    truth: list[Turn] = []
    for start, audio, speaker in pieces:
        first = int(start * RATE)
        mix[first : first + len(audio)] += audio
        truth.extend((s, e, speaker) for s, e in audible(audio, first / RATE))
    mix /= max(1.0, float(np.abs(mix).max()) / 0.9)
    return Conversation(mix, sorted(truth), len(voices), text)


def synthetic_set(
    count: int,
    seed: int = 27,
    turns: tuple[int, int] = (6, 12),
    speakers: tuple[int, ...] = (2, 3),
) -> list[Conversation]:
    """``count`` conversations, their speaker counts cycling through ``speakers``,
    reproducible by ``seed``."""
    rng = random.Random(seed)
    return [
        conversation(rng, random_voices(rng, speakers[index % len(speakers)]), rng.randint(*turns))
        for index in range(count)
    ]
