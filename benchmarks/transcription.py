"""Transcription speed: the session worker pipeline against raw faster-whisper, same audio.

    python -m benchmarks.transcription [--repeats 3] [--notes 10] [--threads 0] [--nice 10]
                                       [--variants]

Builds 10 voice notes of about 30 s each (the four espeak-ng speech fixtures, concatenated in
a rotating order with 0.5 s of silence between, encoded as OGG/Opus at 24 kbit/s), then times,
in the same process:
- the baseline: raw faster-whisper, ``WhisperModel(bundled tiny.en, cpu, int8)`` with the
  worker's cpu_threads (0: the bot's default count, not CTranslate2's) and its default
  decoding options (beam_size=5, vad_filter=True, language unset), segments consumed, one
  file after another, loaded and run in a thread at the pipeline's inference priority
  (TRANSCRIPTION_NICE, default 10);
- the pipeline: a FileSessionManager session holding the same 10 notes and a running
  TranscriptionService, its WhisperTranscriber loaded with ``start()`` as the bot does; timed
  from ``finalize_session`` to the session being TRANSCRIBED.
Model loads (and one warm-up call per model) are excluded from every timing. Runs alternate:
baseline, pipeline(s), baseline, ... ending with a baseline, so every pipeline run sits
between two baseline runs; its ratio is its wall time over the mean of those two, and the
ratio printed is the median of these paired ratios (robust to the machine slowing down for a
while, which a shared 2-core box does); the same is done for CPU seconds (user+sys of the
whole process), which other processes on the machine disturb far less than wall time. Times
are medians over ``--repeats`` rounds. ``--variants`` adds the pipeline with
WHISPER_CPU_THREADS 1 and 2 (0 is the default) and with WHISPER_BATCH_SIZE=8
(BatchedInferencePipeline) at 0 and 1 threads. Targets: pipeline/baseline <= 1.05; a variant
is worth switching to if its ratio is < 1.0 without WER rising by more than 2 points.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import asyncio
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from faster_whisper import WhisperModel

from benchmarks.corpus import FIXTURES, FORMAT, SPEECH, Note, build_corpus, corpus_wer
from benchmarks.timing import cpu_seconds, set_thread_nice
from runtime.log_setup import configure_logging
from sessions import (
    AudioEntry,
    EventBus,
    FileSessionManager,
    FileSessionStorage,
    SessionConfig,
    SessionState,
    StateChanged,
)
from sessions.layout import AUDIO_DIR, TRANSCRIPTS_DIR, audio_filename
from transcription import (
    Transcriber,
    TranscriptionService,
    TranscriptionSettings,
    TranscriptResult,
    WhisperTranscriber,
    bundled_model_path,
)
from transcription.cpu import default_cpu_threads

NOTE_SECONDS = 30.0

Timed = tuple[float, float, list[str]]  # wall seconds, CPU seconds, one transcript per note


@dataclass(frozen=True)
class Variant:
    """A pipeline configuration to time against the baseline."""

    label: str
    cpu_threads: int
    batch_size: int = 0


@dataclass
class Runs:
    """Wall and CPU seconds of repeated runs, paired ratios, and the last run's transcripts."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add(self, timed: Timed) -> None:
        wall, cpu, texts = timed
        self.walls.append(wall)
        self.cpus.append(cpu)
        self.texts = texts


# -- the two contestants -----------------------------------------------------------------------


def settings_for(variant: Variant, nice: int) -> TranscriptionSettings:
    """The worker's defaults, spelled out so the environment cannot change them."""
    return TranscriptionSettings(
        transcription_backend="local",
        whisper_model=None,
        whisper_device="cpu",
        whisper_compute_type="int8",
        whisper_language=None,
        whisper_beam_size=5,
        whisper_vad_filter=True,
        whisper_cpu_threads=variant.cpu_threads,
        whisper_batch_size=variant.batch_size,
        transcription_concurrency=1,
        transcription_nice=nice,
    )


def check_defaults() -> None:
    """The decoding options above must be the worker's own defaults."""
    fields = TranscriptionSettings.model_fields
    wanted = {
        "whisper_beam_size": 5,
        "whisper_vad_filter": True,
        "whisper_language": None,
        "whisper_batch_size": 0,
        "whisper_cpu_threads": 0,
    }
    for name, value in wanted.items():
        assert fields[name].default == value, (name, fields[name].default)


def run_baseline(model: WhisperModel, settings: TranscriptionSettings, notes: list[Note]) -> Timed:
    """Raw faster-whisper over the notes, one after another; segments consumed."""
    texts: list[str] = []
    cpu = cpu_seconds()
    start = time.perf_counter()
    for note in notes:
        segments, _info = model.transcribe(
            str(note.path),
            language=settings.whisper_language,
            beam_size=settings.whisper_beam_size,
            vad_filter=settings.whisper_vad_filter,
        )
        texts.append(" ".join(s.text.strip() for s in segments if s.text.strip()))
    return time.perf_counter() - start, cpu_seconds() - cpu, texts


class InstantTranscriber:
    """A :class:`Transcriber` that answers at once: what is left is the pipeline's own cost."""

    async def transcribe(self, path: Path, options: object = None) -> TranscriptResult:
        return TranscriptResult(text=f"text of {path.name}", language="en", duration_seconds=30.0)

    async def aclose(self) -> None:
        pass


async def run_pipeline(
    transcriber: Transcriber, settings: TranscriptionSettings, notes: list[Note], base: Path
) -> Timed:
    """A session with the notes, a running worker; time finalize -> TRANSCRIBED."""
    bus = EventBus()
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base), events=bus)
    # Live transcription off: what is timed is the whole session's work after finalize.
    at_done = settings.model_copy(update={"live_transcription": False})
    worker = TranscriptionService(manager, transcriber, at_done)
    await worker.start()
    session = await manager.create_session(chat_id=1)
    sid = session.session_id
    audio_dir = manager.get_session_path(sid) / AUDIO_DIR
    for i, note in enumerate(notes):
        sequence = await manager.reserve_sequence(sid, message_id=i)
        name = audio_filename(sequence, note.path.suffix)
        await asyncio.to_thread(shutil.copyfile, note.path, audio_dir / name)
        entry = AudioEntry(
            sequence=sequence, filename=name, duration_seconds=note.seconds, message_id=i
        )
        await manager.add_audio(sid, entry)

    done = asyncio.Event()

    async def on_state(event: StateChanged) -> None:
        if event.session_id == sid and event.to_state in (
            SessionState.TRANSCRIBED,
            SessionState.ERROR,
        ):
            done.set()

    bus.subscribe(on_state, StateChanged)
    cpu = cpu_seconds()
    start = time.perf_counter()
    await manager.finalize_session(sid)
    await done.wait()
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu
    await worker.stop()

    final = await manager.require_session(sid)
    assert final.state is SessionState.TRANSCRIBED, final.state
    folder = manager.get_session_path(sid) / TRANSCRIPTS_DIR
    texts: list[str] = []
    for entry in sorted(final.audio_entries, key=lambda e: e.sequence):
        assert entry.transcript_filename is not None, entry
        text = await asyncio.to_thread((folder / entry.transcript_filename).read_text)
        texts.append(text.strip())
    return wall, cpu, texts


# -- report ------------------------------------------------------------------------------------


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _row(label: str, runs: Runs, audio: float, wer: float) -> str:
    walls = ", ".join(f"{w:.1f}" for w in runs.walls)
    wall = statistics.median(runs.walls)
    cpu = statistics.median(runs.cpus)
    ratio = statistics.median(runs.ratios) if runs.ratios else 1.0
    cpu_ratio = statistics.median(runs.cpu_ratios) if runs.cpu_ratios else 1.0
    return (
        f"  {label:<30} wall {wall:6.2f} s (ratio {ratio:5.3f})  cpu {cpu:6.2f} s "
        f"(ratio {cpu_ratio:5.3f})  RTF {wall / audio:6.4f}  WER {wer * 100:5.2f} %  "
        f"walls: {walls}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (>= 2)")
    parser.add_argument("--notes", type=int, default=10)
    parser.add_argument(
        "--threads", type=int, default=0, help="WHISPER_CPU_THREADS of baseline and pipeline"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=TranscriptionSettings.model_fields["transcription_nice"].default,
        help="TRANSCRIPTION_NICE of the pipeline, also applied to the baseline's thread",
    )
    parser.add_argument("--variants", action="store_true", help="also threads 1/2/0 and batch 8")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    configure_logging("ERROR")  # the figures only; errors still show, on stderr
    check_defaults()

    default_label = " (default)" if args.threads == 0 else ""
    main_variant = Variant(f"pipeline threads={args.threads}{default_label}", args.threads)
    variants = [main_variant]
    if args.variants:
        variants += [Variant(f"pipeline threads={t}", t) for t in (1, 2, 0) if t != args.threads]
        batch_threads = dict.fromkeys([args.threads, 1])  # ordered, without a repeat
        variants += [Variant(f"pipeline threads={t} batch=8", t, 8) for t in batch_threads]

    load_before = os.getloadavg()[0]
    rss: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        (work / "corpus").mkdir()
        started = time.perf_counter()
        notes = build_corpus(work / "corpus", args.notes, NOTE_SECONDS)
        fmt = FORMAT
        audio = sum(n.seconds for n in notes)
        size_kib = sum(n.path.stat().st_size for n in notes) / 1024
        print(
            f"corpus: {len(notes)} notes, {audio:.1f} s of speech "
            f"({min(n.seconds for n in notes):.1f}-{max(n.seconds for n in notes):.1f} s each), "
            f"{fmt}, {size_kib:.0f} KiB; built in {time.perf_counter() - started:.1f} s"
        )
        rss["after building the corpus"] = _peak_rss_mib()

        warmup = FIXTURES / SPEECH[0]
        base_settings = settings_for(main_variant, args.nice)
        # The baseline runs in a thread of its own at the pipeline's inference priority; the
        # model's threads are started by the thread that loads it and inherit its priority.
        base_thread = ThreadPoolExecutor(
            max_workers=1, initializer=set_thread_nice, initargs=(args.nice,)
        )
        model = base_thread.submit(
            WhisperModel,
            str(bundled_model_path()),
            device="cpu",
            compute_type="int8",
            # 0 is the bot's default count, not CTranslate2's own (4).
            cpu_threads=base_settings.whisper_cpu_threads or default_cpu_threads(),
        ).result()
        base_thread.submit(lambda: list(model.transcribe(str(warmup), vad_filter=True)[0])).result()
        transcribers: dict[Variant, WhisperTranscriber] = {}
        for variant in variants:
            transcriber = WhisperTranscriber(settings_for(variant, args.nice))
            asyncio.run(transcriber.start())  # as the bot does: loaded in its executor
            asyncio.run(transcriber.transcribe(warmup))
            transcribers[variant] = transcriber
        rss[f"after loading {1 + len(variants)} models"] = _peak_rss_mib()
        print(
            f"models: 1 baseline + {len(transcribers)} pipeline, loaded and warmed up (one call "
            f"each) before timing; inference threads of both at nice {args.nice}"
        )

        baseline = Runs()
        results = {v: Runs() for v in variants}
        rounds = max(args.repeats, 1)
        baseline.add(base_thread.submit(run_baseline, model, base_settings, notes).result())
        for r in range(rounds):
            shift = r % len(variants)  # rotate so no variant always runs right after a baseline
            for n, variant in enumerate(variants[shift:] + variants[:shift]):
                transcriber = transcribers[variant]
                run_dir = work / f"sessions-{r}-{n}"
                run = run_pipeline(transcriber, transcriber.settings, notes, run_dir)
                results[variant].add(asyncio.run(run))
            baseline.add(base_thread.submit(run_baseline, model, base_settings, notes).result())
            bracket = (baseline.walls[r] + baseline.walls[r + 1]) / 2
            cpu_bracket = (baseline.cpus[r] + baseline.cpus[r + 1]) / 2
            for variant in variants:
                runs = results[variant]
                runs.ratios.append(runs.walls[r] / bracket)
                runs.cpu_ratios.append(runs.cpus[r] / cpu_bracket)
        rss["at the end"] = _peak_rss_mib()
        instant = [
            asyncio.run(
                run_pipeline(InstantTranscriber(), base_settings, notes, work / f"instant-{i}")
            )[0]
            for i in range(5)
        ]
        total = time.perf_counter() - started
        for transcriber in transcribers.values():
            asyncio.run(transcriber.aclose())
        base_thread.shutdown()

    base_wer = corpus_wer(notes, baseline.texts)
    print(
        f"\naudio: {audio:.1f} s in {len(notes)} notes; {rounds} rounds, "
        f"{len(baseline.walls)} baseline runs; medians; ratios are medians of paired ratios"
    )
    print(_row("baseline (raw faster-whisper)", baseline, audio, base_wer))
    for variant in variants:
        runs = results[variant]
        print(_row(variant.label, runs, audio, corpus_wer(notes, runs.texts)))
    main = results[main_variant]
    ratio = statistics.median(main.ratios)
    verdict = "met" if ratio <= 1.05 else "MISSED"
    same = "identical" if main.texts == baseline.texts else "DIFFERENT"
    print(f"\npipeline/baseline {ratio:.3f} (target <= 1.05: {verdict}); transcripts {same}")
    own = statistics.median(instant)
    print(
        f"pipeline's own cost (same session, instant transcriber, median of {len(instant)}): "
        f"{own * 1000:.0f} ms = {own / statistics.median(baseline.walls) * 100:.2f} % of the "
        "baseline wall time"
    )
    print("peak RSS (ru_maxrss): " + ", ".join(f"{v:.0f} MiB {k}" for k, v in rss.items()))
    print(
        f"total benchmark time: {total:.0f} s; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (this machine has {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
