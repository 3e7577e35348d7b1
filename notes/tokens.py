"""How many tokens a text takes, estimated without the model's tokenizer, and a transcript
cut into parts that each fit a budget.

The endpoint may be any model, so its tokenizer is unknown. The estimate errs high, so a
part never overflows the context: about 3.3 characters a token for ASCII (English runs
about 4 with common tokenizers), 1.7 for other alphabets (Cyrillic, Greek, Arabic, Hebrew,
Indic scripts: 2-3 in practice), and 1.5 tokens for each character of the scripts
written without spaces (Chinese, Japanese, Korean, Thai: about 1 in practice).
"""

from __future__ import annotations

import math
import re

_ASCII = 0.3
_ALPHABET = 0.6
_DENSE = 1.5
# Thai, and from the CJK radicals onwards: ideographs, kana, hangul, and beyond.
_DENSE_CHARS = re.compile("[\u0e00-\u0e7f\u2e80-\U0010ffff]")
_SENTENCE_END = re.compile("(?<=[.!?\u2026\u3002\uff01\uff1f])\\s+")  # ... and the CJK stops


def estimate_tokens(text: str) -> int:
    """An upper estimate of the tokens ``text`` takes with a common tokenizer."""
    return math.ceil(_cost(text) - 1e-9)


def _cost(text: str) -> float:
    """The estimate before rounding: additive, so parts are measured once each."""
    ascii_chars = len(text.encode("ascii", "ignore"))
    if ascii_chars == len(text):
        return ascii_chars * _ASCII
    dense = sum(1 for _ in _DENSE_CHARS.finditer(text))
    return ascii_chars * _ASCII + dense * _DENSE + (len(text) - ascii_chars - dense) * _ALPHABET


def split_text(text: str, budget: int) -> list[str]:
    """``text`` cut into parts of at most ``budget`` estimated tokens, at note boundaries
    (blank lines: one paragraph per note in the transcript) where possible, then at sentence
    ends, then between words; a word longer than a part is cut. Paragraphs are packed
    together up to the budget; parts keep their order and nothing is dropped."""
    if budget < 1:
        raise ValueError("budget must be at least one token")
    pieces: list[str] = []
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if paragraph:
            pieces.extend(_fit(paragraph, budget))
    return _pack(pieces, budget, "\n\n")


def _fit(paragraph: str, budget: int) -> list[str]:
    if estimate_tokens(paragraph) <= budget:
        return [paragraph]
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s]
    if len(sentences) > 1:
        return _pack([p for s in sentences for p in _fit(s, budget)], budget, " ")
    words = paragraph.split(" ")
    if len(words) > 1:
        return _pack([p for w in words if w for p in _fit(w, budget)], budget, " ")
    return _cut_word(paragraph, budget)


def _cut_word(word: str, budget: int) -> list[str]:
    parts, current, used = [], "", 0.0
    for char in word:
        cost = _cost(char)
        if current and used + cost > budget + 1e-9:
            parts.append(current)
            current, used = "", 0.0
        current += char
        used += cost
    return [*parts, current] if current else parts


def _pack(pieces: list[str], budget: int, joiner: str) -> list[str]:
    parts: list[list[str]] = []
    current: list[str] = []
    used = 0.0
    glue = _cost(joiner)
    for piece in pieces:
        cost = _cost(piece)
        if current and used + glue + cost > budget + 1e-9:
            parts.append(current)
            current, used = [], 0.0
        used += (glue if current else 0.0) + cost
        current.append(piece)
    if current:
        parts.append(current)
    return [joiner.join(part) for part in parts]


__all__ = ["estimate_tokens", "split_text"]
