"""Speaker diarization: DER, cost and memory on synthetic two- and three-speaker conversations.

    python -m benchmarks.diarization [--conversations 40] [--seed 27] [--threads 1]

Builds ``--conversations`` espeak-ng conversations (benchmarks/conversations.py: alternately
two and three distinct voices, 6-12 short turns, pauses and some overlapping speech), then, in
the same process:
- embeds each conversation once with the shipped diarizer (Silero VAD regions, 1.6 s windows
  every 0.8 s, the numpy voice encoder), timing it;
- learns the clustering threshold on the even-numbered conversations (the one with the lowest
  pooled DER over a grid), and reports DER with a 0.25 s collar on the odd-numbered ones,
  at the learned threshold and at the shipped default (``CLUSTER_THRESHOLD``);
- the baseline: every speech region the diarizer found, said by one speaker (what a
  transcript without diarization amounts to), scored the same way;
- cost: diarization seconds (VAD + embedding + clustering + turns) over audio seconds;
- memory: the process's peak RSS after the runs minus its RSS before loading the diarizer.
Targets: DER <= 15 %, cost <= 0.2x the audio's duration, <= 300 MB more memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

from benchmarks.conversations import Conversation, synthetic_set
from benchmarks.der import DerParts, der_parts
from transcription.diarization import Diarization, load_diarizer
from transcription.diarization.clustering import CLUSTER_THRESHOLD
from transcription.diarization.diarizer import Embedded, VoiceDiarizer

COLLAR = 0.25
GRID = [round(0.10 + 0.02 * i, 2) for i in range(21)]  # 0.10 .. 0.50


def rss_mb() -> float:
    """The current resident set size of this process (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def hypothesis(result: Diarization) -> list[tuple[float, float, int]]:
    return [(t.start, t.end, t.speaker) for t in result.turns]


def score(
    diarizer: VoiceDiarizer,
    items: list[tuple[Conversation, Embedded]],
    threshold: float,
) -> tuple[DerParts, float]:
    """Pooled DER parts over ``items`` at ``threshold`` and the share of conversations whose
    speaker count was found exactly."""
    total = DerParts(0.0, 0.0, 0.0, 0.0)
    exact = 0
    for conv, embedded in items:
        result = diarizer.decide(embedded, threshold)
        total = total + der_parts(conv.turns, hypothesis(result), COLLAR)
        exact += result.speakers == conv.speakers
    return total, exact / max(1, len(items))


def one_speaker(items: list[tuple[Conversation, Embedded]]) -> DerParts:
    """The baseline: all the diarizer's speech regions given to a single speaker."""
    total = DerParts(0.0, 0.0, 0.0, 0.0)
    for conv, embedded in items:
        hyp = [(s, e, 0) for s, e in embedded.regions]
        total = total + der_parts(conv.turns, hyp, COLLAR)
    return total


def describe(label: str, parts: DerParts, exact: float | None = None) -> str:
    counts = "" if exact is None else f"  speaker count right {exact:.0%}"
    return (
        f"{label:<34} DER {parts.der:6.1%}  (missed {parts.missed / parts.speech:5.1%}, "
        f"false alarm {parts.false_alarm / parts.speech:5.1%}, "
        f"confusion {parts.confusion / parts.speech:5.1%}){counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    conversations = synthetic_set(args.conversations, args.seed)
    audio_seconds = sum(c.duration for c in conversations)
    print(
        f"synthetic set: {len(conversations)} conversations, {audio_seconds:.0f} s of audio, "
        f"{sum(len(c.turns) for c in conversations)} true turns "
        f"(built in {time.perf_counter() - started:.0f} s)"
    )

    before = rss_mb()
    diarizer = load_diarizer(threads=args.threads)
    diarizer.diarize(conversations[0].audio[: 16000 * 3])  # warm-up: VAD model, caches
    costs: list[float] = []
    items: list[tuple[Conversation, Embedded]] = []
    busy = 0.0
    for conv in conversations:
        tic = time.perf_counter()
        embedded = diarizer.embed(conv.audio)
        diarizer.decide(embedded)
        elapsed = time.perf_counter() - tic
        busy += elapsed
        costs.append(elapsed / conv.duration)
        items.append((conv, embedded))
    extra = peak_rss_mb() - before

    train, test = items[0::2], items[1::2]
    learned = min(GRID, key=lambda t: score(diarizer, train, t)[0].der)
    print(f"threshold learned on {len(train)} conversations: {learned:.2f}")
    for label, subset in (("held-out", test), ("two speakers, held-out", test[0::2])):
        print(f"-- {label} ({len(subset)} conversations)")
        print(describe("baseline: one speaker", one_speaker(subset)))
        print(describe(f"diarizer at learned {learned:.2f}", *score(diarizer, subset, learned)))
        print(
            describe(
                f"diarizer at shipped {CLUSTER_THRESHOLD:.2f}",
                *score(diarizer, subset, CLUSTER_THRESHOLD),
            )
        )
    three = test[1::2]
    print(f"-- three speakers, held-out ({len(three)} conversations)")
    print(describe(f"diarizer at learned {learned:.2f}", *score(diarizer, three, learned)))
    print(
        f"cost: {busy:.1f} s for {audio_seconds:.0f} s of audio = {busy / audio_seconds:.3f}x "
        f"(per conversation median {statistics.median(costs):.3f}x, max {max(costs):.3f}x)"
    )
    print(f"memory: {before:.0f} MB before loading, peak {peak_rss_mb():.0f} MB, +{extra:.0f} MB")
    print(
        "grid (train DER): "
        + ", ".join(f"{t:.2f}:{score(diarizer, train, t)[0].der:.1%}" for t in GRID[::2])
    )


if __name__ == "__main__":
    main()
