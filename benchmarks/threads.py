"""Whisper's CPU thread count: speed of raw faster-whisper and the event loop's lag, by count.

    python -m benchmarks.threads [--threads 1,2,4] [--repeats 2] [--notes 10] [--load 0]

Builds the transcription benchmark's corpus (10 notes of about 30 s, OGG/Opus), loads the
bundled tiny.en once per thread count (int8, in a thread at TRANSCRIPTION_NICE, as the worker
does), and transcribes the whole corpus with each count in turn, rotating the order every
round. Meanwhile an asyncio loop at normal priority (the bot's event loop) sleeps 10 ms at a
time and records how late each wake-up is: the lag a user's update would see while a session
is transcribed. ``--load N`` runs ``stress-ng --cpu N`` for the whole run (a busy machine).

Printed per count: median wall time and its ratio to the first count's in the same round
(the baseline), and the loop's p50/p99/max lag. The default WHISPER_CPU_THREADS is chosen
from these figures, idle and under load (BENCHMARKS.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from faster_whisper import WhisperModel

from benchmarks.corpus import build_corpus
from benchmarks.timing import set_thread_nice
from transcription import TranscriptionSettings, bundled_model_path

NOTE_SECONDS = 30.0


class LoopLag:
    """An event loop in its own thread that measures how late its 10 ms sleeps wake up."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, time.perf_counter() - before - 0.01))

    def __enter__(self) -> LoopLag:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _lag_text(lags: list[float]) -> str:
    if not lags:
        return "no samples"
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"loop lag p50 {statistics.median(ordered) * 1000:5.1f} ms  p99 {p99 * 1000:6.1f} ms  "
        f"max {ordered[-1] * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2,4", help="counts to compare; first = baseline")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--notes", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="stress-ng --cpu N during the run")
    parser.add_argument(
        "--nice", type=int, default=TranscriptionSettings.model_fields["transcription_nice"].default
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.threads.split(",")]

    stress: subprocess.Popen[bytes] | None = None
    if args.load:
        if shutil.which("stress-ng") is None:
            raise SystemExit("--load needs stress-ng (apt-get install stress-ng)")
        stress = subprocess.Popen(
            ["stress-ng", "--cpu", str(args.load), "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            notes = build_corpus(Path(tmp), args.notes, NOTE_SECONDS)
            audio = sum(n.seconds for n in notes)
            print(
                f"corpus: {len(notes)} notes, {audio:.1f} s of speech; cores {os.cpu_count()}, "
                f"load {'stress-ng --cpu ' + str(args.load) if args.load else 'none'}, "
                f"nice {args.nice}, load average before {os.getloadavg()[0]:.2f}"
            )
            pool = ThreadPoolExecutor(
                max_workers=1, initializer=set_thread_nice, initargs=(args.nice,)
            )
            models = {
                c: pool.submit(
                    WhisperModel,
                    str(bundled_model_path()),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=c,
                ).result()
                for c in counts
            }

            def run(count: int) -> float:
                started = time.perf_counter()
                for note in notes:
                    segments, _ = models[count].transcribe(str(note.path), vad_filter=True)
                    list(segments)
                return time.perf_counter() - started

            def warm_up(count: int) -> None:
                list(models[count].transcribe(str(notes[0].path))[0])

            for c in counts:  # untimed
                pool.submit(warm_up, c).result()
            walls: dict[int, list[float]] = {c: [] for c in counts}
            ratios: dict[int, list[float]] = {c: [] for c in counts}
            lags: dict[int, list[float]] = {c: [] for c in counts}
            for r in range(args.repeats):
                order = counts[r % len(counts) :] + counts[: r % len(counts)]
                this_round: dict[int, float] = {}
                for c in order:
                    with LoopLag() as lag:
                        this_round[c] = pool.submit(run, c).result()
                    walls[c].append(this_round[c])
                    lags[c].extend(lag.lags)
                for c in counts:
                    ratios[c].append(this_round[c] / this_round[counts[0]])
            for c in counts:
                wall = statistics.median(walls[c])
                print(
                    f"  threads={c}: wall {wall:6.2f} s (ratio {statistics.median(ratios[c]):.3f} "
                    f"to threads={counts[0]})  RTF {wall / audio:.4f}  {_lag_text(lags[c])}  "
                    f"walls: {', '.join(f'{w:.1f}' for w in walls[c])}"
                )
    finally:
        if stress is not None:
            stress.terminate()
            stress.wait()


if __name__ == "__main__":
    main()
