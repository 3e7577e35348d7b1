"""/ask's retrieval: recall@5 on a generated library with known facts, latency at scale, and
the path end to end with the real test server.

    python -m benchmarks.ask [--sessions 1000] [--notes 3] [--latency-sessions 10000]
                             [--embed-sessions 60] [--e2e 10] [--threads 2]

1. Recall: ``--sessions`` TRANSCRIBED sessions of ``--notes`` notes of filler (the Zipf
   vocabulary of ``benchmarks.library``, 20 to 60 words a note, which holds "deadline",
   "budget", "meeting", "monday" ...), 100 of the notes carrying a known fact (a name, a date,
   a decision) in the middle of their filler, and for each fact a distractor note elsewhere
   naming the same person or thing in another context. For each fact one question in other
   words than the note ("When is Anna's deadline for the harbour project?"); a hit when the
   fact's note is among the five passages :meth:`AskService.retrieve` returns. BM25 alone.
2. The same with embeddings (``--embed-sessions``: a smaller library, the facts in it, because
   the test model embeds at tens of tokens a second on a loaded machine): BM25 alone and
   BM25 + embeddings (reciprocal rank fusion) on the same library. The embeddings come from
   the tests' SmolLM2-135M-Instruct, mean-pooled: a chat model, not an embedding model.
3. Latency: ``--latency-sessions`` sessions, the median of ``retrieve`` (BM25 alone), and of
   BM25 + a vector search over every note of the chat (random 576-dimension vectors stored
   for all notes: the cost, not the quality; the question's own embedding call is apart).
4. End to end: ``--e2e`` questions through :meth:`AskService.ask` with the test server; every
   reference must name a passage that was sent, of a session of the asking chat.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks.library import vocabulary
from benchmarks.library import write_session as write_transcribed
from library import SessionLibrary, library_path
from library.passages import content_words, notes_by_id
from library.vectors import VectorKeeper, ensure_schema, nearest, to_blob
from notes.ask import AskService, Outcome
from notes.client import ModelClient
from notes.settings import NoteSettings
from runtime.log_setup import configure_logging
from sessions import (
    FileSessionManager,
    FileSessionStorage,
    SessionConfig,
)

CHAT = 1000
NAMES = [
    "Anna",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
    "Marco",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Stefan",
    "Tilda",
    "Umar",
    "Vera",
    "Wilhelm",
    "Xenia",
    "Yusuf",
    "Zora",
]
THINGS = [
    "harbour",
    "vineyard",
    "bakery",
    "lighthouse",
    "orchard",
    "glacier",
    "quarry",
    "observatory",
    "greenhouse",
    "monastery",
    "brewery",
    "marina",
    "sawmill",
    "aquarium",
    "planetarium",
]
CITIES = [
    "Lisbon",
    "Oslo",
    "Kraków",
    "Porto",
    "Tallinn",
    "Ghent",
    "Bergen",
    "Lyon",
    "Turin",
    "Graz",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["March", "April", "May", "June", "July", "August", "September", "October"]
# (the note's sentence, the question): the question in other words where a person would.
TEMPLATES = (
    (
        "so {name} told me the deadline for the {thing} project is {day} the {n}th",
        "When is {name}'s deadline for the {thing} project?",
    ),
    (
        "we finally decided to sell the {thing} in {city} and keep the money for now",
        "What did we decide about the {thing} in {city}?",
    ),
    (
        "{name} moved the {thing} inspection to {month} {n} because of the weather",
        "When is the {thing} inspection with {name}?",
    ),
    (
        "remember that {name} will bring the {thing} plans to the meeting in {city}",
        "Who brings the {thing} plans to {city}?",
    ),
    (
        "the budget for the {thing} in {city} is {n} thousand euros said {name}",
        "How much is the budget for the {thing} in {city}?",
    ),
    # Paraphrased: the question shares only the name and the city with its note.
    (
        "{name} is flying to {city} on {day} for the {thing} conference and back a week later",
        "When does {name} travel to {city}?",
    ),
    (
        "{name} signed the lease for the new office in {city} yesterday, {n} desks",
        "Did {name} rent a workplace in {city}?",
    ),
)
DISTRACTOR = "{name} called about the {other} and the weather in {city} was cold"


def _filler(rng: random.Random, words: list[str], weights: list[float], lo: int, hi: int) -> str:
    return " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(lo, hi)))


def write_session(base: Path, index: int, chat: int, texts: list[str]) -> str:
    """A TRANSCRIBED session folder of ``texts`` (a note each), in the storage's format."""
    moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=index)
    return write_transcribed(base, moment, chat, texts, 20.0)


def build(
    base: Path, sessions: int, notes: int, facts: int, seed: int = 5
) -> list[tuple[str, str, int]]:
    """The library; returns (question, session id, sequence) of each fact's note."""
    rng = random.Random(seed)
    words, weights = vocabulary()
    texts = [[_filler(rng, words, weights, 20, 60) for _ in range(notes)] for _ in range(sessions)]
    slots = rng.sample([(s, n) for s in range(sessions) for n in range(notes)], facts * 2)
    placed: list[tuple[str, int, int]] = []
    for f in range(facts):
        sentence, question = TEMPLATES[f % len(TEMPLATES)]
        values = {
            "name": NAMES[f % len(NAMES)],
            "thing": THINGS[(f // len(NAMES) + f) % len(THINGS)],
            "city": CITIES[(f * 7) % len(CITIES)],
            "day": DAYS[f % len(DAYS)],
            "month": MONTHS[f % len(MONTHS)],
            "n": str(2 + f % 27),
            "other": THINGS[(f + 5) % len(THINGS)],
        }
        (s, n), (ds, dn) = slots[2 * f], slots[2 * f + 1]
        before, after = _filler(rng, words, weights, 5, 20), _filler(rng, words, weights, 5, 20)
        texts[s][n] = f"{before} {sentence.format(**values)} {after}"
        other = _filler(rng, words, weights, 5, 20)
        texts[ds][dn] = f"{other} {DISTRACTOR.format(**values)} {after}"
        placed.append((question.format(**values), s, n + 1))
    ids = [write_session(base, i, CHAT, t) for i, t in enumerate(texts)]
    return [(q, ids[s], seq) for q, s, seq in placed]


async def open_library(base: Path) -> tuple[FileSessionManager, SessionLibrary]:
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    library = SessionLibrary(library_path(base), manager)
    await library.open()
    await library.wait_idle()
    return manager, library


async def recall(service: AskService, facts: list[tuple[str, str, int]], k: int = 5) -> float:
    hits = 0
    for question, sid, seq in facts:
        found = await service.retrieve(CHAT, content_words(question), question)
        hits += (sid, seq) in [(c.session_id, c.sequence) for c in found[:k]]
    return hits / len(facts)


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms"


async def part_recall(base: Path, sessions: int, notes: int) -> None:
    facts = build(base, sessions, notes, 100)
    manager, library = await open_library(base)
    service = AskService(manager, library, NoteSettings(llm_base_url=""))
    score = await recall(service, facts)
    print(f"1. recall@5, {sessions} sessions x {notes} notes, 100 questions, BM25: {score:.2f}")
    await library.close()


async def part_embeddings(base: Path, sessions: int, url: str, e2e: int) -> None:
    facts = build(base, sessions, 3, max(sessions // 6, 5))
    manager, library = await open_library(base)
    plain = AskService(manager, library, NoteSettings(llm_base_url=""))
    settings = NoteSettings(
        llm_base_url=url,
        llm_model="smollm2",
        llm_embedding_model="smollm2",
        llm_timeout_seconds=600,
    )
    client = ModelClient(settings)
    fused = AskService(manager, library, settings, client=client)
    began = time.perf_counter()
    embed_model = settings.llm_embedding_model

    async def embed(texts: list[str]) -> list[list[float]]:
        return await client.embed(embed_model, texts)

    stored = await VectorKeeper(library, embed_model, embed).catch_up()
    print(
        f"2. {sessions} sessions x 3 notes, {len(facts)} questions; {stored} notes embedded "
        f"in {time.perf_counter() - began:.0f} s"
    )
    print(f"   recall@5 BM25 alone:         {await recall(plain, facts):.2f}")
    print(f"   recall@5 BM25 + embeddings:  {await recall(fused, facts):.2f}")
    hits = 0
    for question, sid, seq in facts:
        (vector,) = await client.embed(embed_model, [question])
        ids = await library.in_index(nearest, CHAT, embed_model, to_blob(vector), 5)
        found = await library.in_index(notes_by_id, CHAT, ids)
        hits += (sid, seq) in [(c.session_id, c.sequence) for c in found]
    print(f"   recall@5 embeddings alone:   {hits / len(facts):.2f}")
    outcomes: dict[str, int] = {}
    checked = 0
    for question, _, _ in facts[:e2e]:
        result = await fused.ask(CHAT, question)
        outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
        for passage in result.passages:
            session = await manager.get_session(passage.session_id)
            assert session is not None, passage
            assert session.chat_id == CHAT, passage
            checked += 1
        if result.outcome is Outcome.ANSWER:
            cited = {int(n) for n in re.findall(r"\[(\d+)\]", result.answer)}
            assert cited <= {p.number for p in result.passages}, result
    nothing = await fused.ask(CHAT, "where is the purple walrus?")
    print(f"4. end to end, {e2e} questions: {outcomes}; {checked} references, all the chat's")
    print(f"   a question no note is about: {nothing.outcome.value}")
    await client.close()
    await library.close()


async def part_latency(base: Path, sessions: int, runs: int) -> None:
    began = time.perf_counter()
    facts = build(base, sessions, 3, 100)
    print(
        f"3. latency, {sessions} sessions x 3 notes "
        f"(written in {time.perf_counter() - began:.0f} s)"
    )
    manager, library = await open_library(base)
    service = AskService(manager, library, NoteSettings(llm_base_url=""))
    questions = [q for q, _, _ in facts][:runs]
    samples = []
    for question in questions:
        started = time.perf_counter()
        await service.retrieve(CHAT, content_words(question), question)
        samples.append(time.perf_counter() - started)
    print(f"   retrieve, BM25 alone: {_ms(samples)}")

    def fill(db: object) -> int:
        import sqlite3

        assert isinstance(db, sqlite3.Connection)
        ensure_schema(db)
        rng = np.random.default_rng(1)
        ids = [r[0] for r in db.execute("SELECT id FROM notes")]
        db.execute("BEGIN")
        for note_id in ids:
            blob = to_blob(rng.standard_normal(576).tolist())
            db.execute("INSERT INTO note_vectors VALUES (?, 'bench', ?)", (note_id, blob))
        db.execute("COMMIT")
        return len(ids)

    filled = await library.in_index(fill)
    vector = to_blob(np.random.default_rng(2).standard_normal(576).tolist())
    service._embedding_model = "bench"
    service._client = object()  # type: ignore[assignment]

    async def fixed(texts: list[str]) -> list[list[float]]:
        return [np.frombuffer(vector, dtype=np.float32).tolist()]

    service._embed = fixed  # type: ignore[method-assign]
    samples = []
    for question in questions:
        started = time.perf_counter()
        await service.retrieve(CHAT, content_words(question), question)
        samples.append(time.perf_counter() - started)
    print(f"   retrieve, BM25 + vectors ({filled} x 576 float32): {_ms(samples)}")
    print(f"     the first, which reads the chat's vectors into memory: {samples[0] * 1000:.0f} ms")
    await library.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--notes", type=int, default=3)
    parser.add_argument("--latency-sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--embed-sessions", type=int, default=60, help="0: no embeddings")
    parser.add_argument("--e2e", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    configure_logging("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        await part_recall(Path(tmp) / "recall", args.sessions, args.notes)
    if args.latency_sessions:
        with tempfile.TemporaryDirectory() as tmp:
            await part_latency(Path(tmp) / "latency", args.latency_sessions, args.runs)
    if args.embed_sessions:
        from tests.llm_server import llama_server

        with (
            tempfile.TemporaryDirectory() as tmp,
            llama_server(Path(tmp), embedding=True, threads=args.threads) as server,
        ):
            await part_embeddings(
                Path(tmp) / "embed", args.embed_sessions, server.base_url, args.e2e
            )


if __name__ == "__main__":
    asyncio.run(main())
