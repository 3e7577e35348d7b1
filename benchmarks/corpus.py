"""A corpus of longer voice notes built from the speech fixtures, for the benchmarks.

Each note concatenates the four fixtures (rotating, 0.5 s gaps) to a minimum length and is
encoded as OGG/Opus, 48 kHz mono, 24 kbit/s, like a Telegram voice note; its reference text
is the concatenation of the fixtures' references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from faster_whisper import decode_audio

from tests.wer import normalize, word_error_rate

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SPEECH = ["speech_01.ogg", "speech_02.ogg", "speech_03.ogg", "speech_04.ogg"]
RATE = 16_000
GAP_SECONDS = 0.5
OPUS_RATE = 48_000
OPUS_BIT_RATE = 24_000
FORMAT = "OGG/Opus 48 kHz mono 24 kbit/s"

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Note:
    """One voice note: its file, length and reference text."""

    path: Path
    seconds: float
    reference: str


def encode_opus(samples: Samples, path: Path) -> None:
    """Write 16 kHz mono float samples as OGG/Opus."""
    with av.open(str(path), "w", format="ogg") as container:
        stream: Any = container.add_stream("libopus", rate=OPUS_RATE)
        stream.layout = "mono"
        stream.bit_rate = OPUS_BIT_RATE
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OPUS_RATE)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = RATE
        frame.time_base = Fraction(1, RATE)
        frame.pts = 0
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def build_corpus(folder: Path, count: int, note_seconds: float) -> list[Note]:
    """``count`` notes of at least ``note_seconds`` each, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    references: dict[str, str] = json.loads((FIXTURES / "references.json").read_text())
    clips = [decode_audio(str(FIXTURES / name), sampling_rate=RATE) for name in SPEECH]
    gap = np.zeros(int(GAP_SECONDS * RATE), dtype=np.float32)
    notes: list[Note] = []
    for i in range(count):
        parts: list[Samples] = []
        texts: list[str] = []
        k = i
        while sum(len(p) for p in parts) < note_seconds * RATE:
            if parts:
                parts.append(gap)
            parts.append(clips[k % len(SPEECH)])
            texts.append(references[SPEECH[k % len(SPEECH)]])
            k += 1
        samples = np.concatenate(parts).astype(np.float32)
        path = folder / f"note_{i + 1:02d}.ogg"
        encode_opus(samples, path)
        if len(decode_audio(str(path), sampling_rate=RATE)) < 0.9 * len(samples):
            raise RuntimeError(f"{path.name} decodes short: the Opus encoder misbehaved")
        notes.append(Note(path, len(samples) / RATE, " ".join(texts)))
    return notes


def corpus_wer(notes: list[Note], texts: list[str]) -> float:
    """Word-weighted WER over all notes: total word errors / total reference words."""
    errors = 0.0
    words = 0
    for note, text in zip(notes, texts, strict=True):
        n = len(normalize(note.reference).split())
        errors += word_error_rate(note.reference, text) * n
        words += n
    return errors / words
