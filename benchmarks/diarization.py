"""Speaker diarization: DER, cost and memory on synthetic two- and three-speaker conversations.

    python -m benchmarks.diarization [--conversations 60] [--singles 20] [--seed 2027]
                                     [--threads 1]

Builds ``--conversations`` espeak-ng conversations (benchmarks/conversations.py: alternately
two and three distinct voices, 6-12 short turns, pauses and some overlapping speech) and
``--singles`` of one voice, then, in the same process:
- embeds each recording once with the shipped diarizer (Silero VAD regions, 1.6 s windows
  every 0.8 s, the numpy voice encoder), timing it with its clustering and turns;
- learns the clustering's (threshold, merge, noise) on the even-numbered recordings of both
  kinds (the setting of a small grid with the lowest pooled DER) and reports DER with a
  0.25 s collar on the odd-numbered ones, at the learned setting and at the shipped one
  (``CLUSTER_THRESHOLD``, ``MERGE_DISTANCE``, ``MERGE_NOISE``; chosen on other seeds);
- the baseline, in the same run: every speech region the diarizer found, said by one speaker
  (what a transcript without diarization amounts to), scored the same way;
- cost: diarization seconds (VAD + embedding + clustering + turns) over audio seconds;
- memory: the process's peak RSS after the runs minus its RSS before loading the diarizer
  (faster-whisper already imported, as in the bot).
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
from transcription.diarization.clustering import CLUSTER_THRESHOLD, MERGE_DISTANCE, MERGE_NOISE
from transcription.diarization.diarizer import Embedded, VoiceDiarizer

COLLAR = 0.25
THRESHOLDS = [1.0, 1.05]
MERGES = [0.08, 0.1, 0.12]
NOISES = [0.05, 0.1, 0.15]
GRID = [(t, m, n) for t in THRESHOLDS for m in MERGES for n in NOISES]


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
    setting: tuple[float, float, float],
) -> tuple[DerParts, float]:
    """Pooled DER parts over ``items`` at ``setting`` (threshold, merge, noise) and the share of
    conversations whose speaker count was found exactly."""
    total = DerParts(0.0, 0.0, 0.0, 0.0)
    exact = 0
    for conv, embedded in items:
        result = diarizer.decide(embedded, *setting)
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
        f"{label:<38} DER {parts.der:6.1%}  (missed {parts.missed / parts.speech:5.1%}, "
        f"false alarm {parts.false_alarm / parts.speech:5.1%}, "
        f"confusion {parts.confusion / parts.speech:5.1%}){counts}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=60)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    conversations = synthetic_set(args.conversations, args.seed)
    singles = synthetic_set(args.singles, args.seed + 1, speakers=(1,))
    everything = conversations + singles
    audio_seconds = sum(c.duration for c in everything)
    print(
        f"synthetic set: {len(conversations)} conversations of 2-3 voices and {len(singles)} "
        f"of one voice, {audio_seconds:.0f} s of audio, "
        f"{sum(len(c.turns) for c in everything)} true turns "
        f"(built in {time.perf_counter() - started:.0f} s)"
    )

    import faster_whisper  # noqa: F401  (the bot has it loaded anyway: not the diarizer's cost)

    before = rss_mb()
    diarizer = load_diarizer(threads=args.threads)
    diarizer.diarize(conversations[0].audio[: 16000 * 3])  # warm-up: VAD model, caches
    busy = 0.0
    costs: list[float] = []
    embedded: list[tuple[Conversation, Embedded]] = []
    for conv in everything:
        tic = time.perf_counter()
        item = diarizer.embed(conv.audio)
        diarizer.decide(item)
        elapsed = time.perf_counter() - tic
        busy += elapsed
        costs.append(elapsed / conv.duration)
        embedded.append((conv, item))
    extra = peak_rss_mb() - before

    multi, one = embedded[: len(conversations)], embedded[len(conversations) :]
    train, test = multi[0::2] + one[0::2], multi[1::2]
    learned = min(GRID, key=lambda setting: score(diarizer, train, setting)[0].der)
    shipped = (CLUSTER_THRESHOLD, MERGE_DISTANCE, MERGE_NOISE)
    print(
        f"learned on {len(train)} recordings (threshold, merge, noise): {learned}; "
        f"shipped {shipped}"
    )
    groups = [
        ("held-out, 2-3 voices", test),
        ("held-out, 2 voices", test[0::2]),
        ("held-out, 3 voices", test[1::2]),
        ("held-out, 1 voice", one[1::2]),
    ]
    for label, subset in groups:
        print(f"-- {label} ({len(subset)} recordings)")
        print(describe("baseline: one speaker", one_speaker(subset)))
        print(describe(f"diarizer, learned {learned}", *score(diarizer, subset, learned)))
        print(describe(f"diarizer, shipped {shipped}", *score(diarizer, subset, shipped)))
    print(
        f"cost: {busy:.1f} s for {audio_seconds:.0f} s of audio = {busy / audio_seconds:.3f}x "
        f"(per recording median {statistics.median(costs):.3f}x, max {max(costs):.3f}x)"
    )
    print(f"memory: {before:.0f} MB before loading, peak {peak_rss_mb():.0f} MB, +{extra:.0f} MB")


if __name__ == "__main__":
    main()
