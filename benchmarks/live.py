"""/done -> transcript delivered, with live transcription on and off, on the real bot.

    python -m benchmarks.live [--rounds 3] [--notes 10] [--note-seconds 30] [--pause 3]
                              [--no-burst]

Builds ``--notes`` voice notes of at least ``--note-seconds`` of speech each (the speech
fixtures concatenated with short silences, OGG/Opus like Telegram's: benchmarks/corpus.py)
in a temp folder. Runs two real bots (``python -m bot``, JSON logs, their own SESSIONS_DIR),
one with LIVE_TRANSCRIPTION=true and one with false, each against its own fake Bot API
(tests/fake_telegram/) in this process, both started once and kept for every round. Each
round, in a new chat each time:
- live on, then off: the user sends the notes one by one, waiting for each note's reaction (stored)
  and then ``--pause`` seconds, then /done right after the last reply;
- the floor: the off bot, a session holding only the last note, /done;
- unless ``--no-burst``: the same session with no pause at all (every note pushed at once,
  faster than they can be transcribed), /done right after the last reaction, on and off.
Measured: from pushing /done to the fake recording the transcript's first message (its
header, "Transcript: "), and, at /done, how many notes were not yet transcribed
(from metadata.json). Also the model's own time on the last note (its ``entry_transcribed``
log line in the floor session). Prints each round's seconds, the medians and the ratios:
live / floor (target <= 1.5), off / live (target >= 5), and with no pause live / off
(target <= 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpus import Note, build_corpus
from tests.bot.bot_process import BotProcess
from tests.fake_telegram import FakeTelegram, SentCall

NOTE_TIMEOUT = 120.0  # seconds for one note's reaction; generous: the machine may be loaded
DONE_TIMEOUT = 900.0  # seconds for a transcript of the whole session with live off


@dataclass
class Bot:
    """One bot process and the fake Bot API it talks to."""

    label: str
    fake: FakeTelegram
    proc: BotProcess

    def sessions(self) -> list[dict[str, Any]]:
        found = sorted((self.proc.data_dir / "sessions").glob("*/metadata.json"))
        return [json.loads(p.read_text()) for p in found]


@dataclass
class Timing:
    """One session's /done -> transcript, and the notes still to transcribe at /done."""

    seconds: float
    backlog: int
    notes: int
    model_seconds: float | None = None  # the model's time on the session's last note


def _is_text(chat: int, fragment: str) -> Any:
    def check(call: SentCall) -> bool:
        return call.chat_id == chat and fragment in (call.text or "")

    return check


async def session(bot: Bot, chat: int, notes: list[Note], pause: float | None) -> Timing:
    """Send ``notes`` to ``chat`` (``pause`` seconds after each reply but the last; None:
    all at once), then /done right after the last reply; the time until the transcript."""
    fake = bot.fake
    for n, note in enumerate(notes, start=1):
        file_id = fake.add_file(note.path.read_bytes())
        fake.voice(chat, chat, file_id=file_id, duration=round(note.seconds))
        if pause is not None and n < len(notes):  # /done comes right after the last note
            await fake.wait_reactions(chat, n, timeout=NOTE_TIMEOUT)
            await asyncio.sleep(pause)
    await fake.wait_reactions(chat, len(notes), timeout=NOTE_TIMEOUT * len(notes))
    since = len(fake.sent)
    pushed = time.monotonic()
    fake.text(chat, chat, "/done")
    [stored] = [s for s in bot.sessions() if s["chat_id"] == chat]
    backlog = sum(e["transcription_status"] != "COMPLETED" for e in stored["audio_entries"])
    transcript = await fake.wait_for(
        _is_text(chat, "Transcript: "), timeout=DONE_TIMEOUT, since=since
    )
    return Timing(transcript.timestamp - pushed, backlog, len(notes))


def _model_seconds(bot: Bot, chat: int) -> float | None:
    [stored] = [s for s in bot.sessions() if s["chat_id"] == chat]
    for event in bot.proc.events():
        if (
            event.get("event") == "entry_transcribed"
            and event.get("session_id") == (stored["session_id"])
        ):
            return float(event["seconds"])
    return None


@dataclass
class Round:
    live: Timing
    off: Timing
    floor: Timing
    burst_live: Timing | None
    burst_off: Timing | None


async def one_round(
    n: int, on: Bot, off: Bot, notes: list[Note], pause: float, burst: bool
) -> Round:
    chat = 10_000 + 100 * n
    live = await session(on, chat + 1, notes, pause)
    print(f"  round {n + 1}: live on  {live.seconds:6.2f} s (backlog {live.backlog})", flush=True)
    slow = await session(off, chat + 2, notes, pause)
    print(f"  round {n + 1}: live off {slow.seconds:6.2f} s", flush=True)
    floor = await session(off, chat + 3, notes[-1:], None)
    floor.model_seconds = _model_seconds(off, chat + 3)
    print(f"  round {n + 1}: floor    {floor.seconds:6.2f} s", flush=True)
    burst_live = burst_off = None
    if burst:
        burst_live = await session(on, chat + 4, notes, None)
        print(
            f"  round {n + 1}: pause 0, live on  {burst_live.seconds:6.2f} s "
            f"(backlog {burst_live.backlog})",
            flush=True,
        )
        burst_off = await session(off, chat + 5, notes, None)
        print(f"  round {n + 1}: pause 0, live off {burst_off.seconds:6.2f} s", flush=True)
    return Round(live, slow, floor, burst_live, burst_off)


def _seconds(values: list[float]) -> str:
    return " ".join(f"{v:6.2f}" for v in values)


def report(results: list[Round], notes: list[Note], pause: float) -> None:
    audio = sum(n.seconds for n in notes)
    print(
        f"\n{len(notes)} notes, {audio:.0f} s of speech ({min(n.seconds for n in notes):.0f}-"
        f"{max(n.seconds for n in notes):.0f} s each), pause {pause:g} s; last note "
        f"{notes[-1].seconds:.1f} s. /done -> transcript, seconds, per round; then the median"
    )
    rows: list[tuple[str, list[float]]] = [
        ("live on", [r.live.seconds for r in results]),
        ("live off", [r.off.seconds for r in results]),
        ("floor (last note alone, /done)", [r.floor.seconds for r in results]),
    ]
    model = [r.floor.model_seconds for r in results if r.floor.model_seconds is not None]
    if model:
        rows.append(("  of which the model on it", model))
    burst = [r for r in results if r.burst_live is not None and r.burst_off is not None]
    if burst:
        rows.append(("pause 0, live on", [r.burst_live.seconds for r in burst if r.burst_live]))
        rows.append(("pause 0, live off", [r.burst_off.seconds for r in burst if r.burst_off]))
    for label, values in rows:
        print(f"  {label:32s}{_seconds(values)}   median {statistics.median(values):6.2f}")
    print(
        "  notes not yet transcribed at /done, live on: "
        + " ".join(str(r.live.backlog) for r in results)
        + (
            "; pause 0: " + " ".join(str(r.burst_live.backlog) for r in burst if r.burst_live)
            if burst
            else ""
        )
    )

    def ratio(label: str, top: list[float], bottom: list[float], target: str) -> None:
        per_round = " ".join(f"{t / b:5.2f}" for t, b in zip(top, bottom, strict=True))
        median = statistics.median(top) / statistics.median(bottom)
        print(f"  {label:32s}{median:6.2f}  (per round {per_round}; target {target})")

    print("ratios (of medians):")
    ratio(
        "live on / floor",
        [r.live.seconds for r in results],
        [r.floor.seconds for r in results],
        "<= 1.5",
    )
    ratio(
        "live off / live on",
        [r.off.seconds for r in results],
        [r.live.seconds for r in results],
        ">= 5",
    )
    if burst:
        ratio(
            "pause 0: live on / live off",
            [r.burst_live.seconds for r in burst if r.burst_live],
            [r.burst_off.seconds for r in burst if r.burst_off],
            "<= 1",
        )


async def start_bot(label: str, work: Path, live: bool) -> Bot:
    fake = FakeTelegram()
    await fake.start()
    proc = BotProcess(
        fake.base_url,
        fake.token,
        work / label,
        fork=False,  # the real executable, as a user starts it
        WHISPER_CPU_THREADS="0",  # the default (the test helper sets 2)
        LIVE_TRANSCRIPTION="true" if live else "false",
    )
    await proc.start()
    await proc.wait_started()
    return Bot(label, fake, proc)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--notes", type=int, default=10)
    parser.add_argument("--note-seconds", type=float, default=30.0)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between notes")
    parser.add_argument("--no-burst", action="store_true", help="skip the pause-0 case")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        notes = build_corpus(work / "notes", args.notes, args.note_seconds)
        bots: list[Bot] = []
        try:
            bots.append(await start_bot("live-on", work, live=True))
            bots.append(await start_bot("live-off", work, live=False))
            on, off = bots
            results = [
                await one_round(n, on, off, notes, args.pause, not args.no_burst)
                for n in range(args.rounds)
            ]
        finally:
            for bot in bots:
                await bot.proc.stop()
                await bot.fake.stop()
    report(results, notes, args.pause)


if __name__ == "__main__":
    asyncio.run(main())
