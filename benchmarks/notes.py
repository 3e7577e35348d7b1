"""The written-notes stage against the model it calls, on a real llama.cpp server.

    python -m benchmarks.notes [--rounds 5] [--words 300] [--long-minutes 120]
                               [--skip-overhead] [--skip-long] [--threads 1]
                               [--answer-tokens 256]

Starts llama.cpp's HTTP server (tests/llm_server.py: SmolLM2-135M-Instruct, the tests' model;
``python -m tests.llm_server fetch`` first) on a loopback port with prompt caching off, so
every request reads its whole prompt, and a fixed seed, so the same prompt gets the same
answer. The server caps each answer at ``--answer-tokens`` (default 256), for the stage and
the baseline alike: the tiny model otherwise writes until the request's ``max_tokens`` (about
2,000 with an 8k context), which would make every figure a measure of its rambling; 256 is
the order of a real model's summary or condensed part.
Runs the real :class:`notes.service.NoteService` (durable state files, the prompt files, the
``openai`` client, map-reduce, the HTML rendering) on a real session folder.

1. Overhead. Each round a new session (``--words`` words of synthetic speech) is recorded as
   delivered, with ``LLM_DEFAULT_STYLE=summary``: measured from the transcript's delivery
   (``mark_delivered``) to the note handed to the bot (``on_ready``). The baseline, right
   after: the very prompt the stage sent (recorded on its way out), sent to the same server
   with a bare ``openai`` client and the same parameters. Ratio: the median of the rounds'
   stage / direct ratios (target <= 1.05); also the stage's own time (stage minus its model
   call). One warm-up round is not counted.
2. A long session: ``--long-minutes`` of speech (150 words a minute, a note every two
   minutes) summarised with ``LLM_CONTEXT_TOKENS=8192`` through map-reduce: time, calls,
   condensing rounds, prompt and completion tokens (as the server counted them).

The note's delivery to Telegram (the bot's part) is not in these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai

from notes.client import Completion, ModelClient
from notes.service import NoteService, WrittenNote
from notes.settings import NoteSettings
from sessions import (
    AudioEntry,
    EventBus,
    FileSessionManager,
    FileSessionStorage,
    SessionConfig,
    SessionState,
    TranscriptionStatus,
)
from sessions.transcripts import Transcript
from tests.llm_server import MODEL_NAME, LlamaServer, require_model

WORDS_PER_MINUTE = 150
NOTE_MINUTES = 2
TEMPERATURE = 0.2  # notes.client's


@dataclass
class Call:
    system: str
    user: str
    max_tokens: int
    completion: Completion
    seconds: float


@dataclass
class Recorder:
    """The stage's own client, with each call's prompt and time written down on the way."""

    inner: ModelClient
    calls: list[Call] = field(default_factory=list)

    async def complete(self, system: str, user: str, *, max_tokens: int) -> Completion:
        began = time.perf_counter()
        completion = await self.inner.complete(system, user, max_tokens=max_tokens)
        self.calls.append(Call(system, user, max_tokens, completion, time.perf_counter() - began))
        return completion


_SUBJECTS = [
    "the budget",
    "the new office",
    "the release",
    "the garden",
    "the client call",
    "the invoices",
    "the school trip",
    "the roof repair",
    "the hiring plan",
    "the demo",
]
_VERBS = ["check", "finish", "send", "book", "review", "fix", "plan", "order", "ask about", "move"]
_WHO = ["Anna", "Ben", "I", "we", "Carla", "the team", "Dad", "the landlord"]
_WHEN = [
    "tomorrow",
    "on Friday",
    "next week",
    "before the end of the month",
    "tonight",
    "after lunch",
    "on Monday morning",
    "by the tenth",
]
_FILLERS = ["um", "so", "you know", "like", "well", "I mean", "right"]  # fmt: skip


def speech(words: int, rng: random.Random) -> str:
    """Rambling spoken-style sentences, about ``words`` words, one paragraph."""
    out: list[str] = []
    while sum(len(s.split()) for s in out) < words:
        filler = rng.choice(_FILLERS)
        out.append(
            f"{filler.capitalize()}, {rng.choice(_WHO)} should {rng.choice(_VERBS)} "
            f"{rng.choice(_SUBJECTS)} {rng.choice(_WHEN)}, and {rng.choice(_SUBJECTS)} "
            f"is {rng.choice(['done', 'late', 'fine', 'a problem', 'still open'])}."
        )
    return " ".join(out)


def long_speech(minutes: int, rng: random.Random) -> str:
    """``minutes`` of speech, a paragraph (a note) every NOTE_MINUTES minutes."""
    notes = max(1, minutes // NOTE_MINUTES)
    return "\n\n".join(speech(WORDS_PER_MINUTE * NOTE_MINUTES, rng) for _ in range(notes))


async def transcribed_session(manager: FileSessionManager, chat_id: int, text: str) -> str:
    """A TRANSCRIBED session whose one note says ``text`` (made by the real manager)."""
    session = await manager.create_session(chat_id)
    sid = session.session_id
    entry = AudioEntry(sequence=1, filename="001_audio.ogg", duration_seconds=60.0, message_id=1)
    await manager.add_audio(sid, entry)
    folder = manager.folder(sid)
    await asyncio.to_thread(folder.audio_path(entry.filename).write_bytes, b"OggS fake audio")
    await manager.finalize_session(sid)
    name = await asyncio.to_thread(folder.write_transcript, 1, Transcript(text=text))
    await manager.update_transcription_status(sid, 1, TranscriptionStatus.COMPLETED, name)
    await asyncio.to_thread(folder.write_process_input, text)
    await manager.transition_state(sid, SessionState.TRANSCRIBED)
    return sid


class Stage:
    """A NoteService on a fresh session store, with its calls recorded."""

    def __init__(self, base: Path, base_url: str, context_tokens: int) -> None:
        sessions_dir = base / "sessions"
        self.manager = FileSessionManager(
            FileSessionStorage(sessions_dir),
            SessionConfig(base_dir=sessions_dir),
            events=EventBus(),
        )
        settings = NoteSettings(
            _env_file=None,
            llm_base_url=base_url,
            llm_model=MODEL_NAME,
            llm_default_style="summary",
            llm_context_tokens=context_tokens,
            llm_timeout_seconds=1800,
        )
        self.recorder = Recorder(ModelClient(settings))
        self.service = NoteService(self.manager, settings, model=self.recorder)
        self.ready: dict[str, asyncio.Future[float]] = {}
        self.service.on_ready(self._ready)

    async def _ready(self, note: WrittenNote) -> None:
        done = self.ready.get(note.session_id)
        if done is not None and not done.done():
            done.set_result(time.perf_counter())
        await self.service.mark_delivered(note.session_id, note.key)

    async def note_after_delivery(self, chat_id: int, text: str) -> float:
        """Seconds from the transcript recorded as delivered to the note handed over."""
        sid = await transcribed_session(self.manager, chat_id, text)
        self.ready[sid] = asyncio.get_running_loop().create_future()
        began = time.perf_counter()
        await self.manager.mark_delivered(sid)  # publishes Delivered: the note is owed
        return await self.ready[sid] - began


async def direct(client: openai.AsyncOpenAI, call: Call) -> tuple[float, int]:
    """The same request straight to the server: seconds and completion tokens."""
    began = time.perf_counter()
    response = await client.chat.completions.create(
        model=MODEL_NAME,
        messages=[
            {"role": "system", "content": call.system},
            {"role": "user", "content": call.user},
        ],
        max_tokens=call.max_tokens,
        temperature=TEMPERATURE,
    )
    seconds = time.perf_counter() - began
    return seconds, response.usage.completion_tokens if response.usage else 0


async def overhead(stage: Stage, base_url: str, rounds: int, words: int) -> None:
    rng = random.Random(1)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    stage_s: list[float] = []
    direct_s: list[float] = []
    own_ms: list[float] = []
    ratios: list[float] = []
    for n in range(rounds + 1):
        seconds = await stage.note_after_delivery(100 + n, speech(words, rng))
        (call,) = stage.recorder.calls[-1:]
        baseline, tokens = await direct(client, call)
        print(
            f"round {n}{' (warm-up)' if n == 0 else ''}: stage {seconds:.3f} s "
            f"(its model call {call.seconds:.3f} s, {call.completion.prompt_tokens}+"
            f"{call.completion.completion_tokens} tokens), direct {baseline:.3f} s "
            f"({tokens} completion tokens)",
            flush=True,
        )
        if n == 0:
            continue
        stage_s.append(seconds)
        direct_s.append(baseline)
        own_ms.append((seconds - call.seconds) * 1000)
        ratios.append(seconds / baseline)
    await client.close()
    print(
        f"\noverhead, {rounds} rounds of {words} words: stage median "
        f"{statistics.median(stage_s):.3f} s, direct median {statistics.median(direct_s):.3f} s, "
        f"ratio (median of paired) {statistics.median(ratios):.3f} (target <= 1.05); "
        f"the stage's own time (delivery -> note handed over, minus the model call): median "
        f"{statistics.median(own_ms):.1f} ms, max {max(own_ms):.1f} ms\n",
        flush=True,
    )


async def long_session(stage: Stage, minutes: int) -> None:
    text = long_speech(minutes, random.Random(2))
    before = len(stage.recorder.calls)
    seconds = await stage.note_after_delivery(999, text)
    calls = stage.recorder.calls[before:]
    prompt = sum(c.completion.prompt_tokens for c in calls)
    completion = sum(c.completion.completion_tokens for c in calls)
    longest = max(c.completion.prompt_tokens for c in calls)
    print(
        f"long session: {minutes} min of speech ({len(text.split())} words, {len(text)} chars) "
        f"-> summary with an 8k context in {seconds:.1f} s: {len(calls)} calls "
        f"({len(calls) - 1} condensing + 1), {prompt} prompt + {completion} completion tokens, "
        f"longest prompt {longest} tokens, model time {sum(c.seconds for c in calls):.1f} s",
        flush=True,
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="notes-bench-") as tmp:
        base = Path(tmp)
        server = LlamaServer(
            require_model(),
            base,
            cache_prompt=False,
            threads=args.threads,
            parallel=1,
            max_tokens=args.answer_tokens,
        )
        server.start()
        print(f"llama.cpp server up in {server.last_start_seconds:.2f} s", flush=True)
        try:
            if not args.skip_overhead:
                stage = Stage(base / "overhead", server.base_url, context_tokens=8192)
                await stage.service.start()
                try:
                    await overhead(stage, server.base_url, args.rounds, args.words)
                finally:
                    await stage.service.stop()
            if not args.skip_long:
                stage = Stage(base / "long", server.base_url, context_tokens=8192)
                await stage.service.start()
                try:
                    await long_session(stage, args.long_minutes)
                finally:
                    await stage.service.stop()
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--long-minutes", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--answer-tokens", type=int, default=256)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
