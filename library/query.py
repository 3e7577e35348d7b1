"""What a person types into a search, made safe for SQLite FTS5; and snippets cut back into
pieces the bot can escape and mark itself.

FTS5 has its own query language (quotes, ``AND``/``OR``/``NOT``, ``NEAR``, ``*``, ``-``,
``^``, parentheses, column filters); a user's words must never be read as any of it. So
only the words are kept (runs of letters and digits, as FTS5's ``unicode61`` tokenizer
reads them), each one quoted as a string: all must match, and the last also matches as
a prefix (``transcri`` finds "transcript"), so a half-typed word still finds something.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel

# Letters and digits of any script; "_" and everything else separate words, as in unicode61.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16
"""Words of a query beyond this are ignored (a pasted paragraph is not a useful query)."""
MIN_PREFIX = 2
"""A last word shorter than this matches only as itself (one letter would match everything)."""

MARK_START = "\x02"
MARK_END = "\x03"
"""Put around matched words by ``snippet()``; removed from the text when it is indexed."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKED = re.compile(f"{MARK_START}(.*?){MARK_END}", re.DOTALL)


class Fragment(BaseModel):
    """A piece of a snippet: words that matched the query, or the text between them."""

    text: str
    match: bool


def query_words(query: str) -> list[str]:
    """The words of ``query``, normalised like the indexed text, at most :data:`MAX_WORDS`."""
    return _WORD.findall(unicodedata.normalize("NFC", query))[:MAX_WORDS]


def match_expression(query: str) -> str | None:
    """The FTS5 query for ``query``; None when it has no words."""
    words = query_words(query)
    if not words:
        return None
    terms = [f'"{word}"' for word in words]  # no '"' inside: a word is letters and digits
    if len(words[-1]) >= MIN_PREFIX:
        terms[-1] += " *"
    return " AND ".join(terms)


def clean_text(text: str) -> str:
    """Text as it is indexed: NFC, without control characters (so the snippet markers are
    unambiguous), line breaks and tabs kept."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def fragments(snippet: str) -> list[Fragment]:
    """Split a snippet marked with :data:`MARK_START` / :data:`MARK_END` into fragments."""
    pieces: list[Fragment] = []
    position = 0
    for marked in _MARKED.finditer(snippet):
        if marked.start() > position:
            pieces.append(Fragment(text=snippet[position : marked.start()], match=False))
        if marked.group(1):
            pieces.append(Fragment(text=marked.group(1), match=True))
        position = marked.end()
    if position < len(snippet):
        pieces.append(Fragment(text=snippet[position:], match=False))
    return pieces


__all__ = [
    "MAX_WORDS",
    "Fragment",
    "clean_text",
    "fragments",
    "match_expression",
    "query_words",
]
