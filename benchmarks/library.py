"""Search over a chat's transcripts (/find): 10,000 sessions of 10 notes each.

    python -m benchmarks.library [--sessions 10000] [--notes 10] [--chats 1] [--runs 40]

The session folders are real (metadata.json, transcripts/NNN_audio.txt) but written with
plain file writes in the storage layer's format, without fsync and without the manager:
making 100,000 notes through the manager would take much longer and measure nothing of the
search. The text is generated: a Zipf-distributed vocabulary of 20,000 words (a few
hundred common English words, then made-up ones), 40 to 160 words a note (a voice note of
about 15 s to 1 min). With ``--chats 1`` every session belongs to one chat, the worst case
for that chat's searches.

Prints the rebuild time from the folders (what a start pays when the index file is
missing or damaged), the start-up check of an intact index, the index size on disk, and
the median and 95th percentile of ``SessionLibrary.search`` per kind of query and overall.
Target (issue 13): median under 50 ms.

Then a retention sweep (``--sweep``, default half the sessions): that many sessions deleted
through the manager, one after the other, with the library following the deletions, while a
chat changes its /vocab every 0.2 s and searches every 0.5 s. Printed against baselines
measured in the same run on the idle library: a settings change, a search, and one scrub (an
FTS5 optimize and a WAL truncate: what every single deletion cost before, issue 21).
Targets (issue 21): the sweep under 60 s in all, a settings change during it under 1 s.
``--sweep-only`` skips the search runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from library import SessionLibrary, library_path
from runtime.log_setup import configure_logging
from sessions import (
    AudioEntry,
    ChatSettings,
    FileSessionManager,
    FileSessionStorage,
    Session,
    SessionConfig,
    SessionState,
    TranscriptionStatus,
)
from sessions.ids import base_id
from sessions.layout import TRANSCRIPTS_DIR, audio_filename, transcript_filename
from sessions.storage import METADATA_FILE, SUBFOLDERS

COMMON_TEXT = """
the be to of and a in that have I it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who get
which go me when make can like time no just him know take people into year your good some
could them see other than then now look only come its over think also back after use two how
our work first well way even new want because any these give day most us meeting project
budget client report deadline call email plan idea team week monday tuesday friday morning
tomorrow today remember buy milk bread coffee doctor appointment invoice contract review
design draft launch release bug fix server database search index note voice transcript
summary list garden kitchen travel train flight hotel birthday gift family dinner lunch
recipe book movie music walk run gym
"""
VOCABULARY_SIZE = 20_000
SYLLABLES_TEXT = "ka lo mi ne tu ra si po de ba fe gu hi jo ku le ma no pi qu ro sa ti vu we"


def vocabulary() -> tuple[list[str], list[float]]:
    """Words and their cumulative Zipf weights (rank r has weight 1/r); always the same."""
    rng = random.Random(0)
    words = list(dict.fromkeys(COMMON_TEXT.split()))
    syllables = SYLLABLES_TEXT.split()
    seen = set(words)
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words, list(accumulate(1 / rank for rank in range(1, len(words) + 1)))


def write_session(
    base: Path, moment: datetime, chat: int, texts: list[str], duration: float
) -> str:
    """A TRANSCRIBED session folder of ``texts`` (a note of ``duration`` seconds each), begun
    at ``moment``, in the storage's format; returns its id."""
    sid = base_id(moment)
    folder = base / sid
    for sub in SUBFOLDERS:
        (folder / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for sequence, text in enumerate(texts, start=1):
        name = transcript_filename(sequence)
        (folder / TRANSCRIPTS_DIR / name).write_text(text + "\n", encoding="utf-8")
        entries.append(
            AudioEntry(
                sequence=sequence,
                filename=audio_filename(sequence),
                duration_seconds=duration,
                transcription_status=TranscriptionStatus.COMPLETED,
                transcript_filename=name,
            )
        )
    session = Session(
        session_id=sid,
        chat_id=chat,
        state=SessionState.TRANSCRIBED,
        created_at=moment,
        finalized_at=moment,
        transcribed_at=moment,
        audio_entries=entries,
        next_sequence=len(texts) + 1,
    )
    (folder / METADATA_FILE).write_text(session.model_dump_json(indent=2))
    return sid


def populate(base: Path, sessions: int, notes: int, chats: int, seed: int) -> int:
    """Write ``sessions`` TRANSCRIBED sessions of ``notes`` notes; returns the words written."""
    rng = random.Random(seed)
    words, weights = vocabulary()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    written = 0
    for i in range(sessions):
        texts = []
        for _ in range(notes):
            text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(40, 160)))
            written += text.count(" ") + 1
            texts.append(text)
        write_session(base, start + timedelta(minutes=i), 1000 + i % chats, texts, 30.0)
    return written


def queries(rng: random.Random) -> dict[str, list[str]]:
    """Queries by kind, drawn from the same vocabulary as the notes."""
    words, _ = vocabulary()
    return {
        "common word (most notes)": ["the", "and", "meeting", "of", "to"],
        "mid-frequency word": [words[rank] for rank in rng.sample(range(200, 2000), 5)],
        "rare word": [words[rank] for rank in rng.sample(range(10_000, 20_000), 5)],
        "two words": [f"{words[a]} {words[b]}" for a, b in ((1, 150), (30, 400), (90, 700))],
        "three words": ["remember to buy", "client meeting monday", "the budget report"],
        "prefix (typing)": ["meet", "bud", "transcri", "tomo", "ka"],
        "no hit": ["zzzzqx", "nonexistentword"],
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))


async def run(base: Path, sessions: int, notes: int, chats: int, runs: int) -> None:
    started = time.perf_counter()
    words = await asyncio.to_thread(populate, base, sessions, notes, chats, 13)
    made = time.perf_counter() - started
    print(f"{sessions} sessions x {notes} notes = {sessions * notes} notes, {words} words,")
    print(f"  {chats} chat(s); folders written in {made:.1f} s (plain writes, setup only)")

    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    path = library_path(base)
    library = SessionLibrary(path, manager)
    started = time.perf_counter()
    await library.open()  # no file yet: a rebuild from the folders, in the background
    await library.wait_idle()
    rebuild = time.perf_counter() - started
    await library.close()
    library = SessionLibrary(path, manager)
    started = time.perf_counter()
    await library.open()  # intact: usable at once ...
    usable = time.perf_counter() - started
    await library.wait_idle()  # ... and checked against the folders in a task of its own
    caught_up = time.perf_counter() - started
    print(f"rebuild from the folders       {rebuild:8.2f} s")
    print(f"open an intact index           {usable:8.2f} s (usable)")
    print(f"  checked against the folders  {caught_up:8.2f} s (in the background)")
    print(f"index size on disk             {_size(path) / 2**20:8.1f} MiB")

    if runs == 0:
        await library.close()
        return
    rng = random.Random(7)
    chat = 1000
    everything: list[float] = []
    print(f"search(chat, query, limit=5), {runs} runs per query: median / p95 / hits")
    for kind, texts in queries(rng).items():
        samples: list[float] = []
        hits = 0
        for _ in range(runs):
            for text in texts:
                began = time.perf_counter()
                found = await library.search(chat, text)
                samples.append(time.perf_counter() - began)
                hits = max(hits, len(found))
        everything += samples
        print(f"  {kind:28} {_ms(statistics.median(samples))} {_ms(_p95(samples))}  {hits}")
    median = statistics.median(everything)
    print(f"  {'all queries':28} {_ms(median)} {_ms(_p95(everything))}")
    print(f"target: median under 50 ms: {'met' if median < 0.05 else 'NOT met'}")
    await library.close()


async def timed(work: Awaitable[object]) -> float:
    began = time.perf_counter()
    await work
    return time.perf_counter() - began


async def while_running(
    running: asyncio.Future[None], every: float, work: Callable[[], Awaitable[object]]
) -> list[float]:
    """How long each ``work()`` took, started every ``every`` seconds until ``running`` ends."""
    samples: list[float] = []
    while not running.done():
        samples.append(await timed(work()))
        await asyncio.sleep(every)
    return samples


async def sweep(base: Path, count: int) -> None:
    """Delete ``count`` sessions (every other one, oldest first) as a retention sweep does."""
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    library = SessionLibrary(library_path(base), manager)
    await library.open()
    await library.wait_idle()
    manager.use_chat_settings(library.chat_settings)
    library.attach()
    chat = 1000

    def toggle(settings: ChatSettings) -> ChatSettings:
        if settings.vocabulary:
            return settings.without_words(["Kubernetes"])[0]
        return settings.with_words(["Kubernetes"])

    async def vocab() -> None:
        await manager.update_chat_settings(chat, toggle)

    async def find() -> None:
        await library.search(chat, "meeting budget")

    idle_vocab = [await timed(vocab()) for _ in range(20)]
    idle_find = [await timed(find()) for _ in range(20)]
    ids = sorted(s.session_id for s in await manager.list_sessions(limit=1_000_000))
    doomed = ids[::2][:count]

    # The manager's own part, the library not following: 200 of the sessions the sweep keeps.
    library.detach()
    spare = ids[1::2][-200:]
    began = time.perf_counter()
    for session_id in spare:
        await manager.delete_session(session_id)
    manager_only = (time.perf_counter() - began) / len(spare)
    for session_id in spare:
        await library.remove_session(session_id)
    await library.wait_idle()
    library.attach()

    async def as_before(session_id: str) -> None:  # a removal, and a scrub of its own
        await library.remove_session(session_id)
        await library.scrub()

    # Three of the sweep's sessions leave the index as each did before (their folders go
    # in the sweep): the baseline of a deletion's cost.
    scrub = statistics.median([await timed(as_before(sid)) for sid in doomed[:3]])

    folders_gone: list[float] = []

    async def delete_all() -> None:
        for session_id in doomed:
            await manager.delete_session(session_id)
        folders_gone.append(time.perf_counter())
        await library.wait_idle()  # the index caught up, and scrubbed

    started = time.perf_counter()
    deleting = asyncio.ensure_future(delete_all())
    vocab_times, find_times = await asyncio.gather(
        while_running(deleting, 0.2, vocab), while_running(deleting, 0.5, find)
    )
    await deleting
    total = time.perf_counter() - started
    left = len(await manager.list_sessions(limit=1_000_000))
    base_vocab, base_find = statistics.median(idle_vocab), statistics.median(idle_find)
    print(f"sweep: {count} of {len(ids)} sessions deleted, library following ({left} left,")
    print(f"  after {len(spare)} more were deleted for the baseline below)")
    print(f"  in all (index caught up, scrubbed)   {total:8.2f} s  target < 60 s: ", end="")
    print("met" if total < 60 else "NOT met")
    print(f"  per deletion                      {_ms(total / count)}")
    print(f"  folders deleted after             {folders_gone[0] - started:8.2f} s", end="")
    print(" (the index follows in step)")
    print(f"  a deletion, library not following {_ms(manager_only)} (200, same run)")
    print(f"    per deletion / that             {total / count / manager_only:8.2f}x")
    print(f"  one removal as before (+ scrub)   {_ms(scrub)} (idle index, median of 3)")
    before = scrub * count  # its removals alone: a lower bound
    print(f"  sweep as before, at least         {before:8.1f} s ({count} x the above)")
    print(f"  ratio new / before, at most       {total / before:8.3f}")
    worst = max(vocab_times)
    print(f"  /vocab change during it: median {_ms(statistics.median(vocab_times))}, ", end="")
    print(f"max {_ms(worst)}; idle median {_ms(base_vocab)}")
    print(f"    max / idle median {worst / base_vocab:8.1f}x  target < 1 s: ", end="")
    print("met" if worst < 1 else "NOT met")
    print(f"  /find during it: median {_ms(statistics.median(find_times))}, ", end="")
    print(f"p95 {_ms(_p95(find_times))}; idle median {_ms(base_find)}")
    print(f"    median / idle median {statistics.median(find_times) / base_find:8.1f}x")
    await library.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--notes", type=int, default=10)
    parser.add_argument("--chats", type=int, default=1)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sweep", type=int, default=None, help="sessions deleted (half)")
    parser.add_argument("--sweep-only", action="store_true", help="no search runs")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: temp)")
    args = parser.parse_args()
    configure_logging("ERROR")  # the figures only; errors still show, on stderr
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        runs = 0 if args.sweep_only else args.runs
        await run(Path(tmp), args.sessions, args.notes, args.chats, runs)
        await sweep(Path(tmp), args.sweep if args.sweep is not None else args.sessions // 2)


if __name__ == "__main__":
    asyncio.run(main())
