"""Ingestion latency of the real bot while a session transcribes in the background.

    python -m benchmarks.ingestion [--threads 1 2] [--rounds 3] [--notes 50] [--long-notes 6]

Runs the fake Bot API (tests/fake_telegram/) in this process and the real bot
(``python -m bot``, JSON logs, a temp SESSIONS_DIR) as a subprocess, once per
WHISPER_CPU_THREADS value, for ``--rounds`` rounds (new chats each round). Each round:
- chat A sends ``--long-notes`` voice notes of 15 s of speech (speech_04.ogg) and /done;
- as soon as A's session message says "Transcribing", chat B gets a burst of ``--notes``
  voice notes (speech_01.ogg), all pushed at once: the measured burst;
- once A's transcript is delivered (nothing transcribing), chat C gets the same burst:
  the baseline, measured in the same run.
Per note: served -> durable, from the getUpdates response that first handed the update to the
bot (noted by the fake subclass below as the response is made) to the bot's
``session_event`` log line for that note's ``audio_added`` (logged right after metadata.json
was fsync'd and renamed; its ISO timestamp is mapped onto this process's monotonic clock);
and served -> ack, to the reaction on the note being recorded by the fake. Prints, per thread count,
median, p90 and max of each over all rounds' notes, each round's median, and the busy/idle
ratio of the medians; whether each busy burst fell wholly inside chat A's transcription; the
getUpdates calls during the bursts and how many updates they carried (in-flight updates are
served again until confirmed); how many updates the bot handled twice (``update_handled``
logged more than once for one update_id); and whether every note was stored exactly once,
numbered 1..N in send order.
Target: served -> durable median < 200 ms on loopback while transcribing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bot.bot_process import BotProcess
from tests.fake_telegram import FakeTelegram, SentCall

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
LONG_NOTE, LONG_SECONDS = "speech_04.ogg", 15
SHORT_NOTE, SHORT_SECONDS = "speech_01.ogg", 3
CHAT_A, CHAT_B, CHAT_C = 1001, 2002, 3003


class TimedFake(FakeTelegram):
    """The fake Bot API, also noting when each update was first served and each poll's size."""

    def __init__(self) -> None:
        super().__init__()
        self.served: dict[int, float] = {}
        self.polls: list[tuple[float, int]] = []
        self.message_of: dict[int, tuple[int, int]] = {}  # update_id -> (chat_id, message_id)

    def push_update(self, update: dict[str, Any]) -> int:
        update_id = super().push_update(update)
        message = update.get("message")
        if isinstance(message, dict):
            self.message_of[update_id] = (message["chat"]["id"], message["message_id"])
        return update_id

    async def _get_updates(self, params: dict[str, Any], uploads: dict[str, Any]) -> Any:
        result = await super()._get_updates(params, uploads)
        now = time.monotonic()
        for update in result:
            self.served.setdefault(update["update_id"], now)
        self.polls.append((now, len(result)))
        return result


@dataclass
class Burst:
    """One burst of voice notes to one chat, and what became of it."""

    durable: list[float]  # seconds, served -> audio_added logged, in send order
    ack: list[float]  # seconds, served -> the note's reaction recorded, in send order
    first_served: float
    last_durable: float
    polls: int
    updates_served: int
    handled_twice: int
    problems: list[str]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def _mono(iso: str, offset: float) -> float:
    """A log line's ISO (UTC) timestamp on this process's monotonic clock."""
    return datetime.fromisoformat(iso).timestamp() + offset


def _sessions(data_dir: Path) -> list[dict[str, Any]]:
    found = sorted((data_dir / "sessions").glob("*/metadata.json"))
    return [json.loads(p.read_text()) for p in found]


def _acks(fake: TimedFake, chat_id: int) -> list[SentCall]:
    """The bot's reactions in ``chat_id``: each says a note is stored (on the note itself)."""
    return [c for c in fake.sent if c.chat_id == chat_id and c.method == "setMessageReaction"]


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def _send(fake: TimedFake, chat_id: int, data: bytes, seconds: int, count: int) -> list[int]:
    file_ids = [fake.add_file(data) for _ in range(count)]
    return [fake.voice(chat_id, chat_id, file_id=f, duration=seconds) for f in file_ids]


async def _burst(fake: TimedFake, chat_id: int, count: int) -> tuple[list[int], int]:
    """Push ``count`` short notes at once; wait until each has its reaction."""
    data = (FIXTURES / SHORT_NOTE).read_bytes()
    polls_before = len(fake.polls)
    update_ids = _send(fake, chat_id, data, SHORT_SECONDS, count)
    await _until(
        lambda: len({c.message_id for c in _acks(fake, chat_id)}) >= count,
        120,
        f"{count} acks in chat {chat_id}",
    )
    return update_ids, polls_before


def _measure(
    fake: TimedFake, proc: BotProcess, chat_id: int, update_ids: list[int], polls_before: int
) -> Burst:
    offset = time.monotonic() - time.time()
    sessions = [s for s in _sessions(proc.data_dir) if s["chat_id"] == chat_id]
    entries = [e for s in sessions for e in s["audio_entries"]]
    seq_of_message = {e["message_id"]: e["sequence"] for e in entries}
    events = proc.events()
    added: dict[int, list[float]] = {}
    handled: dict[int, int] = {}
    for event in events:
        if event.get("event") == "update_handled":
            handled[event["update_id"]] = handled.get(event["update_id"], 0) + 1
        elif (
            event.get("event") == "session_event"
            and event.get("event_type") == "audio_added"
            and event.get("chat_id") == chat_id
        ):
            added.setdefault(event["sequence"], []).append(_mono(event["timestamp"], offset))
    acks: dict[int, list[float]] = {}
    for call in _acks(fake, chat_id):
        if call.message_id is not None:
            acks.setdefault(call.message_id, []).append(call.timestamp)

    messages = [fake.message_of[u][1] for u in update_ids]
    durable, ack = [], []
    for update_id, message_id in zip(update_ids, messages, strict=True):
        served = fake.served[update_id]
        durable.append(added[seq_of_message[message_id]][0] - served)
        ack.append(acks[message_id][0] - served)

    problems = []
    if len(sessions) != 1:
        problems.append(f"{len(sessions)} sessions")
    if len(entries) != len(messages) or len({e["message_id"] for e in entries}) != len(entries):
        problems.append(f"{len(entries)} entries for {len(messages)} notes")
    sequences = [seq_of_message.get(m) for m in messages]
    if sequences != list(range(1, len(messages) + 1)):
        problems.append(f"sequences in send order: {sequences}")
    if any(len(v) != 1 for v in added.values()) or len(added) != len(messages):
        problems.append(f"{sum(len(v) for v in added.values())} audio_added events")
    if any(len(v) != 1 for v in acks.values()) or len(acks) != len(messages):
        problems.append(f"{sum(len(v) for v in acks.values())} acks")
    for session in sessions:
        audio = proc.data_dir / "sessions" / session["session_id"] / "audio"
        stored = sorted(p.name for p in audio.iterdir() if not p.name.startswith("."))
        if stored != sorted(e["filename"] for e in session["audio_entries"]):
            problems.append(f"{len(stored)} audio files")

    first_served = min(fake.served[u] for u in update_ids)
    last_durable = max(fake.served[u] + d for u, d in zip(update_ids, durable, strict=True))
    window = [n for t, n in fake.polls[polls_before:] if t <= last_durable]
    return Burst(
        durable=durable,
        ack=ack,
        first_served=first_served,
        last_durable=last_durable,
        polls=len(window),
        updates_served=sum(window),
        handled_twice=sum(handled.get(u, 0) > 1 for u in update_ids),
        problems=problems,
    )


def _transcribed_at(proc: BotProcess, chat_id: int) -> float:
    offset = time.monotonic() - time.time()
    for event in proc.events():
        if (
            event.get("event") == "session_event"
            and event.get("event_type") == "state_changed"
            and event.get("chat_id") == chat_id
            and event.get("to_state") in ("TRANSCRIBED", "ERROR")
        ):
            return _mono(event["timestamp"], offset)
    raise RuntimeError(f"chat {chat_id}'s session never finished transcribing")


@dataclass
class Round:
    busy: Burst
    idle: Burst
    transcribing_seconds: float  # chat A: "Transcribing" shown -> TRANSCRIBED
    spare_seconds: float  # TRANSCRIBED - last durable note of the busy burst


async def _round(fake: TimedFake, proc: BotProcess, n: int, notes: int, long_notes: int) -> Round:
    chat_a, chat_b, chat_c = CHAT_A + n, CHAT_B + n, CHAT_C + n
    _send(fake, chat_a, (FIXTURES / LONG_NOTE).read_bytes(), LONG_SECONDS, long_notes)
    await fake.wait_reactions(chat_a, long_notes, timeout=30)
    fake.text(chat_a, chat_a, "/done")
    status = await fake.wait_for(
        lambda c: c.chat_id == chat_a and (c.text or "").startswith("Transcribing"), timeout=30
    )
    busy_ids, busy_polls = await _burst(fake, chat_b, notes)
    await fake.wait_for(
        lambda c: c.chat_id == chat_a and "Transcript: " in (c.text or ""), timeout=150
    )
    finished = _transcribed_at(proc, chat_a)
    await asyncio.sleep(0.5)
    idle_ids, idle_polls = await _burst(fake, chat_c, notes)
    await asyncio.sleep(0.5)  # let any late second handling of an update be logged
    busy = _measure(fake, proc, chat_b, busy_ids, busy_polls)
    idle = _measure(fake, proc, chat_c, idle_ids, idle_polls)
    return Round(busy, idle, finished - status.timestamp, finished - busy.last_durable)


async def run(threads: int, rounds: int, notes: int, long_notes: int, work: Path) -> list[Round]:
    """One bot process with WHISPER_CPU_THREADS=threads; ``rounds`` busy/idle burst pairs."""
    async with TimedFake() as fake:
        proc = BotProcess(
            fake.base_url,
            fake.token,
            work / f"threads-{threads}",
            fork=False,
            WHISPER_CPU_THREADS=str(threads),
        )
        try:
            await proc.start()
            await proc.wait_started()
            results = [await _round(fake, proc, n, notes, long_notes) for n in range(rounds)]
        finally:
            await proc.stop()
    _report(threads, notes, results)
    return results


def _row(label: str, values: list[float], per_round: list[float]) -> None:
    rounds = " ".join(f"{v * 1000:4.0f}" for v in per_round)
    print(
        f"  {label:31s}{_ms(statistics.median(values)):>10s}{_ms(_quantile(values, 0.9)):>11s}"
        f"{_ms(max(values)):>11s}   {rounds}"
    )


def _report(threads: int, notes: int, results: list[Round]) -> None:
    print(
        f"WHISPER_CPU_THREADS={threads}: {len(results)} rounds x {notes} notes per burst, "
        "ms from update served (pooled over rounds; then each round's median)"
    )
    print(f"  {'':31s}{'median':>10s}{'p90':>11s}{'max':>11s}   per-round medians")
    metrics: list[tuple[str, Callable[[Burst], list[float]]]] = [
        ("served->durable", lambda b: b.durable),
        ("served->ack", lambda b: b.ack),
    ]
    for label, pick in metrics:
        medians: dict[str, float] = {}
        for name, bursts in (
            ("transcribing", [r.busy for r in results]),
            ("idle", [r.idle for r in results]),
        ):
            pooled = [v for burst in bursts for v in pick(burst)]
            _row(f"{label}, {name}", pooled, [statistics.median(pick(b)) for b in bursts])
            medians[name] = statistics.median(pooled)
        ratios = " ".join(
            f"{statistics.median(pick(r.busy)) / statistics.median(pick(r.idle)):4.2f}"
            for r in results
        )
        print(
            f"  {label + ' ratio':31s}{medians['transcribing'] / medians['idle']:7.2f} "
            f"(pooled medians; per round {ratios})"
        )
    for name, bursts in (
        ("transcribing", [r.busy for r in results]),
        ("idle", [r.idle for r in results]),
    ):
        spans = " ".join(f"{b.last_durable - b.first_served:4.2f}" for b in bursts)
        polls = sum(b.polls for b in bursts)
        served = sum(b.updates_served for b in bursts)
        twice = sum(b.handled_twice for b in bursts)
        problems = [p for b in bursts for p in b.problems]
        print(
            f"  {name:12s}: bursts done in {spans} s; {polls} getUpdates carried {served} "
            f"updates; {twice} updates handled twice"
        )
        print(
            f"  {'':14s}every note stored once, numbered 1..{notes} in send order: "
            f"{'yes' if not problems else 'NO: ' + '; '.join(problems)}"
        )
    print(
        "  chat A transcribing (status -> TRANSCRIBED): "
        + " ".join(f"{r.transcribing_seconds:4.1f}" for r in results)
        + " s; busy burst ended before it by "
        + " ".join(f"{r.spare_seconds:4.1f}" for r in results)
        + " s"
        + ("" if all(r.spare_seconds > 0 for r in results) else "  (NOT all inside it)")
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--notes", type=int, default=50)
    parser.add_argument("--long-notes", type=int, default=6)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for threads in args.threads:
            await run(threads, args.rounds, args.notes, args.long_notes, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
