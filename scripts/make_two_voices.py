"""Generate tests/fixtures/two_voices.ogg and its truth, two_voices.json (run once; the tests
only read them). Needs espeak-ng; encodes with PyAV (faster-whisper's decoder) like a
Telegram voice note: OGG/Opus, mono, 48 kHz, 24 kbit/s.

    .venv/bin/python scripts/make_two_voices.py

Two clearly different voices (en-us+m3 low and slow, en-gb+f2 high and quick) take four
turns with 0.6-0.8 s pauses; the truth is each turn's audible extent, as in the benchmark
(benchmarks/conversations.py).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from benchmarks.conversations import RATE, Voice, audible, speak

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
VOICES = [Voice("en-us", "m3", 35, 150), Voice("en-gb", "f2", 70, 175)]
TURNS = [
    (0, "Did you send the report to the customer this morning?"),
    (1, "Not yet, I am still waiting for the final numbers."),
    (0, "Then please send it tomorrow before lunch."),
    (1, "Sure, I will do that."),
]
PAUSES = [0.7, 0.8, 0.6]


def encode(audio: np.ndarray, path: Path) -> None:
    """Write 16 kHz float ``audio`` as OGG/Opus (48 kHz, mono, 24 kbit/s)."""
    with av.open(str(path), "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.bit_rate = 24000
        stream.layout = "mono"
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.time_base = Fraction(1, RATE)
        frame.pts = 0
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main() -> None:
    pieces, cursor, truth = [], 0.4, []
    for index, (speaker, text) in enumerate(TURNS):
        audio = speak(VOICES[speaker], text)
        pieces.append((cursor, audio))
        spans = audible(audio, cursor)
        truth.append(
            {
                "start": round(spans[0][0], 2),
                "end": round(spans[-1][1], 2),
                "speaker": speaker,
                "text": text,
            }
        )
        cursor += len(audio) / RATE + (PAUSES[index] if index < len(PAUSES) else 0.4)
    mix = np.zeros(int(cursor * RATE), dtype=np.float32)
    for start, audio in pieces:
        first = int(start * RATE)
        mix[first : first + len(audio)] += audio
    mix *= 0.9 / float(np.abs(mix).max())
    encode(mix, FIXTURES / "two_voices.ogg")
    voices = [" ".join(v.args()) for v in VOICES]
    (FIXTURES / "two_voices.json").write_text(
        json.dumps({"voices": voices, "turns": truth}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
