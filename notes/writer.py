"""A note written from a transcript of any length: one call when it fits the model's context,
map-reduce when it does not.

``LLM_CONTEXT_TOKENS`` is shared by the prompt, the transcript and the answer. A transcript
too long for it is cut at note boundaries (:func:`notes.tokens.split_text`), each part
condensed on its own (every point, task, name and speaker kept), and the note written from
the condensed parts together; parts still too long together are condensed again, a bounded
number of rounds (each condensed part is held to a third of its part, so a round always
shrinks the text). Clean text is the exception: it is the whole text, so each part is cleaned
and the cleaned parts follow each other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import structlog

from notes.client import Completion
from notes.prompting import Context, Prompts
from notes.tokens import estimate_tokens, split_text

# What the chat template and the message wrapping add beyond the texts themselves.
OVERHEAD_TOKENS = 128
# An answer may take at most this share of the context, and never more than this many tokens.
ANSWER_SHARE = 4
MAX_ANSWER_TOKENS = 2048
# A condensed part may take at most this share of its part's estimated tokens: each round
# shrinks the text whatever the model does (estimates run high, so about 2x at the least).
CONDENSED_SHARE = 3
MIN_CONDENSED_TOKENS = 128
# Condensing rounds before the rest is cut.
MAX_ROUNDS = 3

_MARKERS = ("<transcript>", "</transcript>", "<note>", "</note>")

_log = structlog.get_logger("notes.writer")


class Completer(Protocol):
    async def complete(self, system: str, user: str, *, max_tokens: int) -> Completion: ...


@dataclass(frozen=True)
class Task:
    """What to write: ``prompt`` names the prompt file (a style, or ``reply``)."""

    prompt: str
    instruction: str | None = None
    previous_note: str | None = None  # a reply's: the session's latest note


@dataclass
class Written:
    markdown: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    rounds: int = 0  # condensing rounds (0: the transcript fitted)

    def count(self, completion: Completion) -> str:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        return completion.text


async def write_note(
    model: Completer,
    prompts: Prompts,
    context: Context,
    transcript: str,
    task: Task,
    context_tokens: int,
) -> Written:
    """The note ``task`` asks for, from ``transcript``, within ``context_tokens``.

    Raises what ``model`` raises (:class:`notes.client.ModelError`) on the first call that
    fails: a note is whole or not written."""
    written = Written(markdown="")
    system = await asyncio.to_thread(
        prompts.system, task.prompt, context, instruction=task.instruction
    )
    available = context_tokens - estimate_tokens(system) - OVERHEAD_TOKENS
    if available < 256:
        raise ValueError("the prompt leaves no room for the transcript in the context")
    text = _neutral(transcript.strip())
    if task.prompt == "clean":
        written.markdown = await _clean(model, system, text, available, written)
        return written
    answer = min(available // ANSWER_SHARE, MAX_ANSWER_TOKENS)
    note = _capped(_neutral(task.previous_note or ""), (available - answer) // 3)
    budget = available - answer - estimate_tokens(note)
    while estimate_tokens(text) > budget and written.rounds < MAX_ROUNDS:
        text = await _condense(model, prompts, context, text, context_tokens, written)
        written.rounds += 1
    if estimate_tokens(text) > budget:
        _log.warning("transcript_cut", rounds=written.rounds)
        text = (await _split(text, budget))[0]
    user = f"<transcript>\n{text}\n</transcript>"
    if note:
        user += f"\n\n<note>\n{note}\n</note>"
    written.markdown = written.count(await model.complete(system, user, max_tokens=answer))
    return written


async def _clean(model: Completer, system: str, text: str, available: int, written: Written) -> str:
    parts = await _split(text, available // 2) or [""]
    cleaned = []
    for part in parts:
        room = available - estimate_tokens(part)
        user = f"<transcript>\n{part}\n</transcript>"
        cleaned.append(written.count(await model.complete(system, user, max_tokens=room)))
    return "\n\n".join(cleaned)


async def _condense(
    model: Completer,
    prompts: Prompts,
    context: Context,
    text: str,
    context_tokens: int,
    written: Written,
) -> str:
    """One map round: ``text`` cut into parts that fit, each condensed; the parts joined."""
    probe = await asyncio.to_thread(prompts.system, "condense", context, part=99, parts=99)
    available = context_tokens - estimate_tokens(probe) - OVERHEAD_TOKENS
    parts = await _split(text, available * 2 // 3)
    condensed = []
    for number, part in enumerate(parts, start=1):
        system = await asyncio.to_thread(
            prompts.system, "condense", context, part=number, parts=len(parts)
        )
        user = f"<transcript>\n{part}\n</transcript>"
        room = max(estimate_tokens(part) // CONDENSED_SHARE, MIN_CONDENSED_TOKENS)
        condensed.append(written.count(await model.complete(system, user, max_tokens=room)))
    return _neutral("\n\n".join(condensed))


async def _split(text: str, budget: int) -> list[str]:
    # A two-hour recording in one note is one paragraph of 100,000 characters and more:
    # cut off the event loop.
    return await asyncio.to_thread(split_text, text, budget)


def _neutral(text: str) -> str:
    """The text with the markers that frame it taken apart, so no text can close its frame."""
    for marker in _MARKERS:
        text = text.replace(marker, marker.replace("<", "\u2039").replace(">", "\u203a"))
    return text


def _capped(text: str, budget: int) -> str:
    if estimate_tokens(text) <= budget:
        return text
    parts = split_text(text, max(budget, 1))
    return parts[0] if parts else ""


__all__ = ["Completer", "Task", "Written", "write_note"]
