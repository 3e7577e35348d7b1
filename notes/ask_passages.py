"""The pure parts of ``/ask``: the passages sent to the model, bounded by tokens; the user
message that carries them; and the references of the model's answer, checked against
the passages that were sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from library.passages import matched_words
from notes.tokens import estimate_tokens, split_text

PASSAGE_SHARE = 3
"""One passage takes at most this fraction (1/n) of the passages' budget."""
ANSWER_CHARS = 2500
"""The model's answer is cut (at a sentence end where possible) to this many characters."""
WRITTEN_NOTES = 0  # the library's WRITTEN_NOTES_SEQUENCE
_MARKERS = re.compile(r"</?\s*passages\s*>", re.IGNORECASE)
# [1], [2, 3], [2][3]; at most three digits (a year in brackets is no reference: > passages).
_REFERENCE = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002](?=\s|$)")


@dataclass(frozen=True)
class Passage:
    """A note sent to the model (or shown): ``number`` as the model (or person) sees it."""

    number: int
    session_id: str
    sequence: int  # 0: the session's written notes
    created_at: datetime
    speakers: tuple[str, ...]
    text: str


def excerpt(text: str, stems: list[str], budget: int) -> str:
    """``text`` if it fits ``budget`` tokens, else its part (cut at paragraphs, then
    sentences) holding most of the question's words."""
    if estimate_tokens(text) <= budget:
        return text
    parts = split_text(text, budget)
    return max(parts, key=lambda part: matched_words(stems, part)) if parts else ""


def header(passage: Passage, zone: tzinfo) -> str:
    """How the prompt introduces a passage: ``[1] Tue 24 Nov 2026, note 3 (Anna, Ben)``."""
    what = "written note" if passage.sequence == WRITTEN_NOTES else f"note {passage.sequence}"
    day = f"{passage.created_at.astimezone(zone):%a %d %b %Y}"
    who = f" ({', '.join(passage.speakers)})" if passage.speakers else ""
    return f"[{passage.number}] {day}, {what}{who}:"


def clean(text: str) -> str:
    """A note's text as sent: without the markers that delimit the passages."""
    return _MARKERS.sub(" ", text).strip()


def bound(
    passages: Sequence[Passage], stems: list[str], budget: int, zone: tzinfo
) -> list[Passage]:
    """The passages, best first, that fit ``budget`` tokens together with their headers,
    renumbered from 1; each cut to its most relevant part of at most a
    :data:`PASSAGE_SHARE`-th of the budget. Passages that do not fit are left out (the
    next, shorter ones may still fit)."""
    share = max(budget // PASSAGE_SHARE, 1)
    kept: list[Passage] = []
    used = 0
    for passage in passages:
        text = excerpt(clean(passage.text), stems, share)
        if not text:
            continue
        candidate = replace(passage, number=len(kept) + 1, text=text)
        cost = estimate_tokens(header(candidate, zone)) + estimate_tokens(text) + 2
        if used + cost > budget:
            continue
        kept.append(candidate)
        used += cost
    return kept


def user_message(question: str, passages: Sequence[Passage], zone: tzinfo) -> str:
    """What the model reads: the passages between markers, then the question."""
    blocks = "\n\n".join(f"{header(p, zone)}\n{clean(p.text)}" for p in passages)
    return f"<passages>\n{blocks}\n</passages>\n\nQuestion: {clean(question)}"


def check_references(answer: str, sent: int) -> tuple[str, list[int]]:
    """The answer with every reference checked against the ``sent`` passages (numbered
    1..sent): references to passages that were not sent are dropped, the valid ones are
    renumbered 1, 2, ... in the order they are first cited; and the numbers (as sent) of
    the passages cited, in that order. No valid reference: an empty list."""
    cited: list[int] = []

    def renumber(found: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", found.group(1).strip())]
        valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= sent))
        for number in valid:
            if number not in cited:
                cited.append(number)
        return "".join(f"[{cited.index(n) + 1}]" for n in valid)

    checked = _REFERENCE.sub(renumber, answer)
    checked = _SPACE_BEFORE_PUNCT.sub(r"\1", checked)
    return re.sub(r"[ \t]{2,}", " ", checked).strip(), cited


def shorten(answer: str, limit: int = ANSWER_CHARS) -> str:
    """``answer`` within ``limit`` characters: cut at the last sentence end before it
    (or between words), with "…"."""
    if len(answer) <= limit:
        return answer
    head = answer[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] > limit // 2:
        return head[: ends[-1]]
    return head.rsplit(" ", 1)[0] + "…"


__all__ = [
    "Passage",
    "bound",
    "check_references",
    "clean",
    "excerpt",
    "header",
    "shorten",
    "user_message",
]
