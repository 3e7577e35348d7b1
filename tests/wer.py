"""Tiny dependency-free word error rate (WER) helper for transcription tests."""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lowercase ``text``, strip ASCII punctuation and collapse whitespace.

    Punctuation is removed (not replaced by a space), so "don't" becomes
    "dont" on both sides of a comparison.
    """
    text = _PUNCTUATION.sub("", text.lower())
    return _WHITESPACE.sub(" ", text).strip()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Return the word error rate of ``hypothesis`` against ``reference``.

    Both texts are normalized with :func:`normalize`. WER is the word-level
    Levenshtein distance (substitutions + deletions + insertions) divided by
    the number of reference words. An empty reference gives 0.0 for an empty
    hypothesis and 1.0 otherwise. The result can exceed 1.0 when the
    hypothesis has many inserted words.
    """
    ref = normalize(reference).split()
    hyp = normalize(hypothesis).split()
    if not ref:
        return 0.0 if not hyp else 1.0

    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            cost = 0 if ref_word == hyp_word else 1
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + cost,  # substitution or match
            )
        previous = current
    return previous[-1] / len(ref)
