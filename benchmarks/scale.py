"""Scaling out transcription: the taskiq queue with 1 and 2 worker processes vs in-process.

    python -m benchmarks.scale [--repeats 2] [--notes 10] [--note-seconds 20] [--dir DIR]

Builds one session of ``--notes`` voice notes: the four speech fixtures concatenated in a
rotating order (0.5 s of silence between) until a note reaches ``--note-seconds`` (so notes
of about 20-30 s), encoded as OGG/Opus 48 kHz mono 24 kbit/s; ``--note-seconds 0`` cycles
the plain 3-15 s fixtures instead. The same notes are transcribed by
:func:`~transcription.pipeline.transcribe_session`, bundled tiny.en, cpu, int8, beam 5, VAD:

- (a) local: a WhisperTranscriber in this process, WHISPER_CPU_THREADS=1,
  TRANSCRIPTION_CONCURRENCY=1 (the baseline);
- (b) taskiq, 1 worker: a QueueTranscriber, concurrency 1, and one
  ``python -m transcription.worker`` process (WHISPER_CPU_THREADS=1);
- (c) taskiq, 2 workers: concurrency 2 and two worker processes (each WHISPER_CPU_THREADS=1).

Redis is a real redis-server on a free port (``tests.redis_server.RedisServer``: appendonly,
appendfsync always). (b) uses database 0 and (c) database 1, each with its own worker
processes, so all three workers stay loaded and warm and (b)'s jobs never reach (c)'s workers.
Every worker, and the in-process model, first runs a warm-up session (excluded). Each timed
run uses a fresh FileSessionManager in a temp folder; the clock runs from calling
transcribe_session (session already TRANSCRIBING) until it returns TRANSCRIBED. Variants
alternate, in a rotating order, for ``--repeats`` rounds; figures are medians. CPU seconds
are those of all processes involved (this one, the three workers, redis-server); "others" is
the CPU the rest of the machine used meanwhile (/proc/stat busy time minus ours), which on a
shared 2-core box explains most outliers: a run beside a busy neighbour is not comparable.
Inference is the sum of the notes' ``processing_seconds`` (measured around faster-whisper,
in whichever process ran it); wall minus inference (divided among the workers) is what the
pipeline, the queue and, for (c), the last note's tail add. Outputs are checked against (a)'s
and against the fixtures' reference texts (WER).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faster_whisper import decode_audio

from benchmarks.corpus import FIXTURES, FORMAT, RATE, SPEECH, Note, build_corpus, corpus_wer
from runtime.log_setup import configure_logging
from sessions import (
    FileSessionManager,
    FileSessionStorage,
    SessionConfig,
    SessionState,
    TranscriptionStatus,
)
from sessions.layout import TRANSCRIPTS_DIR, transcript_filename
from tests.conftest import add_note
from tests.redis_server import RedisServer
from tests.transcription.test_queue import WorkerProcess
from tests.wer import word_error_rate
from transcription import Transcriber, TranscriptionSettings, WhisperTranscriber, transcribe_session
from transcription.queue import QUEUE_NAME, QueueTranscriber

STOP_SECONDS = 10.0
# The workers' own environment: the same hardware settings as (a), one job at a time each.
WORKER_ENV = {
    "WHISPER_MODEL": "",
    "WHISPER_DEVICE": "cpu",
    "WHISPER_COMPUTE_TYPE": "int8",
    "WHISPER_CPU_THREADS": "1",
    "TRANSCRIPTION_CONCURRENCY": "1",
}


@dataclass
class Variant:
    """One way of transcribing, with the figures of its timed runs."""

    label: str
    transcriber: Transcriber
    settings: TranscriptionSettings
    workers: list[WorkerProcess] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    texts: list[list[str]] = field(default_factory=list)
    inference: list[float] = field(default_factory=list)  # sum of processing_seconds, per run
    others: list[float] = field(default_factory=list)  # CPU seconds of other processes, per run
    jobs: list[list[int]] = field(default_factory=list)  # job_done per worker, per run


# -- processes ---------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User+system CPU seconds of this process and of ``pids``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + sum(_proc_cpu(pid) for pid in pids)


async def _end(proc: asyncio.subprocess.Process | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_SECONDS."""
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def start_workers(workers: Sequence[WorkerProcess]) -> None:
    """Start the workers at once; wait until each has loaded its model and listens."""
    outcomes = await asyncio.gather(*(w.start() for w in workers), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def jobs_done(workers: Sequence[WorkerProcess]) -> list[int]:
    return [await asyncio.to_thread(w.count, "job_done") for w in workers]


# -- runs --------------------------------------------------------------------------------------


async def run_session(variant: Variant, notes: Sequence[Note], base: Path, pids: list[int]) -> None:
    """A fresh manager and session holding ``notes``; time transcribe_session to TRANSCRIBED."""
    config = SessionConfig(base_dir=base, max_audio_duration_seconds=1200)
    manager = FileSessionManager(FileSessionStorage(base), config)
    session = await manager.create_session(chat_id=1)
    sid = session.session_id
    for i, note in enumerate(notes):
        await add_note(
            manager, session, message_id=i, duration=note.seconds, data=note.path.read_bytes()
        )
    session = await manager.finalize_session(sid)
    assert session.state is SessionState.TRANSCRIBING, session.state
    before_jobs = await jobs_done(variant.workers)
    cpu, busy = cpu_seconds(pids), machine_busy_seconds()
    start = time.perf_counter()
    done = await transcribe_session(manager, variant.transcriber, sid, variant.settings)
    wall = time.perf_counter() - start
    cpu, busy = cpu_seconds(pids) - cpu, machine_busy_seconds() - busy
    assert done.state is SessionState.TRANSCRIBED, (done.state, done.errors)
    folder = manager.get_session_path(sid) / TRANSCRIPTS_DIR
    texts: list[str] = []
    inference = 0.0
    for entry in sorted(done.audio_entries, key=lambda e: e.sequence):
        assert entry.transcription_status is TranscriptionStatus.COMPLETED, entry
        assert entry.transcript_filename is not None, entry
        text = await asyncio.to_thread((folder / entry.transcript_filename).read_text)
        texts.append(text.strip())
        detail = folder / transcript_filename(entry.sequence, ".json")
        inference += json.loads(await asyncio.to_thread(detail.read_text))["processing_seconds"]
    after_jobs = await jobs_done(variant.workers)
    variant.walls.append(wall)
    variant.cpus.append(cpu)
    variant.texts.append(texts)
    variant.inference.append(inference)
    variant.others.append(max(busy - cpu, 0.0))
    variant.jobs.append([b - a for a, b in zip(before_jobs, after_jobs, strict=True)])


async def warm_up(variant: Variant, note: Note, base: Path, pids: list[int]) -> None:
    """Untimed sessions until every worker of the variant has done at least one job."""
    width = max(len(variant.workers), 1)
    for attempt in range(5):
        await run_session(variant, [note] * width, base / f"warm-{attempt}", pids)
        if all(await jobs_done(variant.workers)):
            break
    else:
        raise RuntimeError(f"{variant.label}: a worker got no warm-up job: {variant.jobs}")
    variant.walls.clear()
    variant.cpus.clear()
    variant.texts.clear()
    variant.inference.clear()
    variant.others.clear()
    variant.jobs.clear()


def settings_for(backend: str, redis_url: str, concurrency: int) -> TranscriptionSettings:
    """Spelled out, so that the environment and .env cannot change them."""
    return TranscriptionSettings(
        transcription_backend=backend,
        redis_url=redis_url,
        whisper_model=None,
        whisper_device="cpu",
        whisper_compute_type="int8",
        whisper_language=None,
        whisper_beam_size=5,
        whisper_vad_filter=True,
        whisper_batch_size=0,
        whisper_cpu_threads=1,
        transcription_concurrency=concurrency,
    )


# -- report ------------------------------------------------------------------------------------


def report(
    variants: list[Variant], notes: list[Note], corpus: str, stream: str, load: float
) -> None:
    audio = sum(n.seconds for n in notes)
    lengths = [n.seconds for n in notes]
    print(
        f"corpus: {len(notes)} notes, {min(lengths):.1f}-{max(lengths):.1f} s "
        f"(mean {statistics.mean(lengths):.1f} s), {audio:.1f} s of audio; {corpus}"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.2f} at start; "
        f"rounds: {len(variants[0].walls)}, rotating order"
    )
    local, one, two = variants
    base = statistics.median(local.walls)
    reference = local.texts[0]
    for v in variants:
        wall = statistics.median(v.walls)
        width = max(len(v.workers), 1)
        runs = ", ".join(f"{w:.2f} ({o:.1f})" for w, o in zip(v.walls, v.others, strict=True))
        pairs = [(r, t) for texts in v.texts for r, t in zip(reference, texts, strict=True)]
        same = sum(r == t for r, t in pairs)
        drift = max(word_error_rate(r, t) for r, t in pairs)
        jobs = (
            f"  jobs/worker {' '.join('/'.join(map(str, j)) for j in v.jobs)}" if v.workers else ""
        )
        print(
            f"  {v.label:<30} wall {wall:6.2f} s  ratio {wall / base:5.3f}  "
            f"cpu {statistics.median(v.cpus):6.2f} s (others {statistics.median(v.others):.2f} s)  "
            f"RTF {wall / audio:.4f}  "
            f"walls (others): {runs}"
        )
        inference = statistics.median(v.inference)
        rest = (wall - inference / width) / len(notes)
        print(
            f"  {'':<30} inference (sum of processing_seconds) {inference:.2f} s; "
            f"(wall - inference/{width}) per note {rest * 1000:.0f} ms"
        )
        print(
            f"  {'':<30} WER {corpus_wer(notes, v.texts[-1]) * 100:.2f} %  same text as (a) "
            f"{same}/{len(pairs)} (max WER vs (a) {drift * 100:.2f} %){jobs}"
        )
    wall_a, wall_b, wall_c = (statistics.median(v.walls) for v in variants)
    paired_b = statistics.median(b / a for a, b in zip(local.walls, one.walls, strict=True))
    paired_c = statistics.median(b / c for b, c in zip(one.walls, two.walls, strict=True))
    print(
        f"speedup (c) over (b): {wall_b / wall_c:.2f}x (paired per round: {paired_c:.2f}x); "
        f"(c) over (a): {wall_a / wall_c:.2f}x"
    )
    overhead = wall_b - wall_a
    print(
        f"queue overhead (b) vs (a): {overhead:+.2f} s ({(wall_b / wall_a - 1) * 100:+.1f} %, "
        f"paired {(paired_b - 1) * 100:+.1f} %), per note {overhead / len(notes) * 1000:+.0f} ms"
    )
    print(f"redis afterwards: {stream}")


async def stream_state(url: str) -> str:
    """Entries left in the job stream and the memory they take (both databases)."""
    from redis.asyncio import Redis

    parts = []
    for db in (0, 1):
        client = Redis.from_url(url.rsplit("/", 1)[0] + f"/{db}")
        try:
            length = await client.xlen(QUEUE_NAME)
            memory = await client.memory_usage(QUEUE_NAME) or 0
        finally:
            await client.aclose()
        parts.append(f"db {db}: stream {QUEUE_NAME} {length} entries, {memory / 2**20:.1f} MiB")
    return "; ".join(parts)


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    load = os.getloadavg()[0]  # another busy process on a 2-core box skews every figure
    notes = await asyncio.to_thread(build_corpus, tmp / "corpus", args.notes, args.note_seconds)
    corpus = f"the 4 speech fixtures concatenated to >= {args.note_seconds:g} s, {FORMAT}"
    first = FIXTURES / SPEECH[0]
    warm_note = Note(first, len(await asyncio.to_thread(decode_audio, str(first))) / RATE, "")
    os.environ.update(WORKER_ENV)
    redis = RedisServer(tmp / "redis")
    workers: list[WorkerProcess] = []
    queues: list[QueueTranscriber] = []
    local: WhisperTranscriber | None = None
    try:
        await redis.start()
        assert redis.proc is not None
        url_b, url_c = redis.url, redis.url.rsplit("/", 1)[0] + "/1"
        b_workers = [WorkerProcess(url_b, tmp / "worker-b.log")]
        c_workers = [WorkerProcess(url_c, tmp / f"worker-c{n}.log") for n in (1, 2)]
        workers.extend(b_workers + c_workers)  # listed first: stopped even if a start fails
        await start_workers(workers)
        pids = [redis.proc.pid] + [w.proc.pid for w in workers if w.proc is not None]

        local = WhisperTranscriber(settings_for("local", redis.url, 1))
        await local.start()
        for settings in (settings_for("taskiq", url_b, 1), settings_for("taskiq", url_c, 2)):
            queue = QueueTranscriber(settings)
            queues.append(queue)
            await queue.start()
        variants = [
            Variant("(a) local, in-process", local, local.settings),
            Variant("(b) taskiq, 1 worker, conc 1", queues[0], queues[0].settings, b_workers),
            Variant("(c) taskiq, 2 workers, conc 2", queues[1], queues[1].settings, c_workers),
        ]
        for n, variant in enumerate(variants):
            await warm_up(variant, warm_note, tmp / f"warm-{n}", pids)
        for r in range(args.repeats):
            order = variants[r % 3 :] + variants[: r % 3]
            for variant in order:
                await run_session(variant, notes, tmp / f"run-{r}-{variant.label[1]}", pids)
        report(variants, notes, corpus, await stream_state(redis.url), load)
    finally:
        for queue in queues:
            with contextlib.suppress(Exception):
                await queue.aclose()
        if local is not None:
            await local.aclose()
        await asyncio.gather(*(_end(w.proc) for w in workers), return_exceptions=True)
        await _end(redis.proc)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--notes", type=int, default=10)
    parser.add_argument(
        "--note-seconds", type=float, default=20.0, help="0: the plain fixtures, cycled"
    )
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    configure_logging("ERROR")  # the figures only; errors still show, on stderr
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        await bench(args, Path(tmp))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise SystemExit("interrupted: workers and redis-server stopped") from None
