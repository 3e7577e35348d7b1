"""Passages for a question (``/ask``): the chat's notes that best match it, by BM25 from the
search index, and whether they match it at all.

A question is reduced to its content words: the words of the query (as FTS5's ``unicode61``
tokenizer reads them), lower-cased, without the small words of a question ("what", "did",
"the", ...) and lightly stemmed ("decided" and "decide" both become ``decid``), each matched
as the start of a word. The FTS5 expression quotes every term, so nothing a person types is
read as query syntax (``AND``, ``NEAR``, ``*``, ``"``, column filters). Any term may match
(``OR``): bm25 ranks the notes with more of them, and rarer ones, first.

Whether a note is relevant is decided here, never by a model: it must contain at least a
third of the question's content words (:func:`relevant`). A question whose words no note
has gets no passages, and ``/ask`` says so instead of letting a model guess.

Blocking: the functions taking a connection run on the library's worker thread
(:meth:`~library.index.SessionLibrary.in_index`).
"""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
from dataclasses import dataclass

from library.query import query_words

MAX_CONTENT_WORDS = 12
"""Content words of a question beyond this are ignored."""
MIN_STEM = 4
"""A suffix is stripped only when this much of the word is left ("does" stays "does")."""
_SUFFIXES = ("ing", "ed", "es", "s", "e")
# Small English words that say nothing of what a note is about: the question's frame.
_STOP_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few
    for from further had has have having he her here hers herself him himself his how i if
    in into is it its itself just me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the
    their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves s t d ll m re ve
    tell told say said says know remember recall anything something thing things ever
    please me mine get got give gave let lets make made note notes voice
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Candidate:
    """One indexed note that matched: its row id in the index (``note_id``), where it is,
    its bm25 score (higher is better) and its text."""

    note_id: int
    session_id: str
    sequence: int
    score: float
    text: str


def stem(word: str) -> str:
    """``word`` lower-cased, with one common English suffix stripped when enough is left."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def content_words(question: str) -> list[str]:
    """The stems of ``question``'s content words, in order, each once, at most
    :data:`MAX_CONTENT_WORDS`. Single letters are dropped; digits are kept ("2027")."""
    stems: list[str] = []
    for word in query_words(question.lower()):
        if word in STOP_WORDS or (len(word) < 2 and not word.isdigit()):
            continue
        stemmed = stem(word)
        if stemmed not in stems:
            stems.append(stemmed)
    return stems[:MAX_CONTENT_WORDS]


def ask_expression(stems: list[str]) -> str | None:
    """The FTS5 query for the stems: any of them, each as the start of a word; None when
    there are none. A stem is letters and digits only, and quoted: never query syntax."""
    if not stems:
        return None
    return " OR ".join(f'"{s}" *' for s in stems)


def matched_words(stems: list[str], text: str) -> int:
    """How many of ``stems`` start a word of ``text``."""
    tokens = {t.lower() for t in _TOKEN.findall(unicodedata.normalize("NFC", text))}
    return sum(1 for s in stems if any(t.startswith(s) for t in tokens))


def required_words(stems: list[str]) -> int:
    """How many of the question's content words a relevant note must contain: a third,
    at least one."""
    return max(1, math.ceil(len(stems) / 3))


def relevant(stems: list[str], text: str) -> bool:
    """Whether a note's ``text`` is about the question at all (see the module's docstring)."""
    return bool(stems) and matched_words(stems, text) >= required_words(stems)


_BM25 = """
    SELECT n.id, n.session_id, n.sequence, t.rank, t.text
    FROM notes_text AS t JOIN notes AS n ON n.id = t.rowid
    WHERE notes_text MATCH ? AND n.chat_id = ? {scope}
    ORDER BY t.rank LIMIT ?
"""


def bm25_candidates(
    db: sqlite3.Connection,
    stems: list[str],
    chat_id: int,
    limit: int,
    session_id: str | None = None,
) -> list[Candidate]:
    """The chat's notes (only ``session_id``'s, when given) matching any of ``stems``, best
    bm25 first, at most ``limit``."""
    expression = ask_expression(stems)
    if expression is None or limit <= 0:
        return []
    scope, args = "", [expression, chat_id]
    if session_id is not None:
        scope, args = "AND n.session_id = ?", [*args, session_id]
    rows = db.execute(_BM25.format(scope=scope), (*args, limit))
    return [
        Candidate(int(r[0]), str(r[1]), int(r[2]), -float(r[3]), str(r[4])) for r in rows.fetchall()
    ]


def notes_by_id(db: sqlite3.Connection, chat_id: int, note_ids: list[int]) -> list[Candidate]:
    """The chat's notes of ``note_ids`` (others are left out), in that order, score 0."""
    found: dict[int, Candidate] = {}
    for start in range(0, len(note_ids), 500):
        chunk = note_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT n.id, n.session_id, n.sequence, t.text FROM notes AS n"
            f" JOIN notes_text AS t ON t.rowid = n.id WHERE n.chat_id = ? AND n.id IN ({marks})",
            (chat_id, *chunk),
        )
        for r in rows.fetchall():
            found[int(r[0])] = Candidate(int(r[0]), str(r[1]), int(r[2]), 0.0, str(r[3]))
    return [found[i] for i in note_ids if i in found]


def fuse(rankings: list[list[int]], k: int = 60) -> list[int]:
    """Reciprocal rank fusion: the ids of all ``rankings`` (each best first), ordered by the
    sum of 1 / (k + rank) over the rankings that hold them; ties keep first-seen order."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


__all__ = [
    "STOP_WORDS",
    "Candidate",
    "ask_expression",
    "bm25_candidates",
    "content_words",
    "fuse",
    "matched_words",
    "notes_by_id",
    "relevant",
    "required_words",
    "stem",
]
