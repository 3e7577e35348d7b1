"""Session core speed: add_audio up to 500 entries, list_sessions over 10,000 sessions.

    python -m benchmarks.session_ops [--entries 500] [--sessions 10000]

Prints medians, each beside a baseline measured in the same run on the same disk:
- add_audio against a bare atomic write (fsync'd) of the same metadata bytes, i.e. the
  durability floor any crash-safe store pays;
- list_sessions(10) against a naive listing that parses every session's metadata.
Targets (issue 2): add_audio median < 5 ms at 500 entries; list_sessions(10) < 50 ms at
10,000 sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from runtime.log_setup import configure_logging
from sessions import AudioEntry, FileSessionManager, FileSessionStorage, Session, SessionConfig
from sessions.atomic import write_atomic
from sessions.ids import base_id
from sessions.layout import audio_filename
from sessions.storage import METADATA_FILE, SUBFOLDERS


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


async def bench_add_audio(base: Path, entries: int) -> None:
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    session = await manager.create_session(chat_id=1)
    audio_dir = manager.get_session_path(session.session_id) / "audio"
    timings: list[float] = []
    floor: list[float] = []
    scratch = base / "floor.json"
    for i in range(entries):
        seq = await manager.reserve_sequence(session.session_id, message_id=i)
        name = audio_filename(seq)
        (audio_dir / name).write_bytes(b"x")
        entry = AudioEntry(sequence=seq, filename=name, duration_seconds=3.0, message_id=i)
        start = time.perf_counter()
        updated = await manager.add_audio(session.session_id, entry)
        timings.append(time.perf_counter() - start)
        payload = updated.model_dump_json(indent=2).encode()
        start = time.perf_counter()
        write_atomic(scratch, payload)
        floor.append(time.perf_counter() - start)

    print(f"add_audio, one session, {entries} entries (median per call):")
    step = max(entries // 5, 1)
    for lo in range(0, entries, step):
        hi = min(lo + step, entries)
        med = statistics.median(timings[lo:hi])
        base_med = statistics.median(floor[lo:hi])
        print(
            f"  entries {lo + 1:4d}-{hi:4d}: add_audio {_ms(med)}   "
            f"bare fsync'd write {_ms(base_med)}   ratio {med / base_med:5.2f}"
        )
    print(f"  throughput overall: {entries / sum(timings):7.1f} add_audio/s")


async def bench_burst(base: Path, notes: int) -> None:
    """A burst of concurrent add_audio calls (group commit) against the same calls in a row."""
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))

    async def prepared(chat_id: int) -> tuple[str, list[AudioEntry]]:
        session = await manager.create_session(chat_id=chat_id)
        audio_dir = manager.get_session_path(session.session_id) / "audio"
        entries = []
        for i in range(notes):
            name = audio_filename(i + 1)
            (audio_dir / name).write_bytes(b"x")
            entries.append(AudioEntry(sequence=i + 1, filename=name, duration_seconds=3.0))
        return session.session_id, entries

    sid, entries = await prepared(1)
    start = time.perf_counter()
    for entry in entries:
        await manager.add_audio(sid, entry)
    sequential = time.perf_counter() - start

    sid, entries = await prepared(2)
    latencies: list[float] = []

    async def timed_add(entry: AudioEntry) -> None:
        begin = time.perf_counter()
        await manager.add_audio(sid, entry)
        latencies.append(time.perf_counter() - begin)

    start = time.perf_counter()
    await asyncio.gather(*(timed_add(e) for e in entries))
    burst = time.perf_counter() - start
    print(f"add_audio, {notes} at once (group commit) vs one after another:")
    print(f"  one after another: {_ms(sequential)} in all")
    print(
        f"  all at once:       {_ms(burst)} in all, median wait {_ms(statistics.median(latencies))}"
        f"   ratio {burst / sequential:.2f}"
    )


def _populate(base: Path, count: int) -> None:
    # Setup only: plain writes without fsync, so making 10,000 sessions takes seconds.
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(count):
        moment = start + timedelta(minutes=i)
        sid = base_id(moment)
        folder = base / sid
        for sub in SUBFOLDERS:
            (folder / sub).mkdir(parents=True, exist_ok=True)
        session = Session(session_id=sid, chat_id=i % 50, created_at=moment)
        (folder / METADATA_FILE).write_text(session.model_dump_json(indent=2))


async def bench_list(base: Path, count: int) -> None:
    await asyncio.to_thread(_populate, base, count)
    storage = FileSessionStorage(base)
    manager = FileSessionManager(storage, SessionConfig(base_dir=base))

    def naive() -> list[Session]:
        loaded = [s for sid in storage.list_all() if (s := storage.load(sid))]
        return sorted(loaded, key=lambda s: s.created_at, reverse=True)[:10]

    async def timed(fn: object, runs: int) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            await fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    fast = await timed(lambda: manager.list_sessions(10), 30)
    per_chat = await timed(lambda: manager.list_sessions(10, chat_id=7), 30)
    slow = await timed(lambda: asyncio.to_thread(naive), 3)
    assert [s.session_id for s in await manager.list_sessions(10)] == [
        s.session_id for s in naive()
    ]
    print(f"list_sessions over {count} sessions (median):")
    print(f"  list_sessions(10)             {_ms(fast)}")
    print(f"  list_sessions(10, chat_id=7)  {_ms(per_chat)}   (1 chat in 50)")
    print(f"  naive parse-everything        {_ms(slow)}   ratio fast/naive {fast / slow:.4f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    configure_logging("ERROR")  # the figures only; errors still show, on stderr
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        await bench_add_audio(Path(tmp) / "add", args.entries)
        await bench_burst(Path(tmp) / "burst", 50)
        await bench_list(Path(tmp) / "list", args.sessions)


if __name__ == "__main__":
    asyncio.run(main())
