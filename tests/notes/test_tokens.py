"""Tokens are estimated high for any script, and long transcripts are cut at note
boundaries into parts that fit, nothing lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from notes.tokens import estimate_tokens, split_text


def test_estimates_err_high_for_each_script() -> None:
    # Typical tokenizers: ~4 ASCII characters a token, ~2-3 for Cyrillic, ~1 per CJK char.
    english = "The quick brown fox jumps over the lazy dog. " * 20
    assert estimate_tokens(english) >= len(english) / 4
    russian = "Съешь же ещё этих мягких французских булок. " * 20
    assert estimate_tokens(russian) >= len(russian) / 2.5
    chinese = "我们明天下午三点开会讨论预算。" * 20
    assert estimate_tokens(chinese) >= len(chinese)
    assert estimate_tokens("") == 0


def test_parts_break_at_note_boundaries_and_keep_everything() -> None:
    notes = [f"Anna: note {n}." + " We talked about the plan." * 30 for n in range(40)]
    text = "\n\n".join(notes)
    parts = split_text(text, 1000)
    assert len(parts) > 1
    assert all(estimate_tokens(p) <= 1000 for p in parts)
    # Each part is whole notes: no note is cut in two when notes fit.
    for part in parts:
        for paragraph in part.split("\n\n"):
            assert paragraph in notes
    assert "\n\n".join(parts) == text


def test_a_note_longer_than_a_part_is_cut_at_sentences_then_words() -> None:
    long_note = " ".join(f"Sentence number {n} is here." for n in range(300))
    parts = split_text(long_note, 100)
    assert all(estimate_tokens(p) <= 100 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == long_note
    assert split_text("x" * 50, 3) == ["x" * 10] * 5


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=600), st.integers(min_value=2, max_value=60))  # one character fits
def test_splitting_any_text_keeps_every_word_within_budget(text: str, budget: int) -> None:
    parts = split_text(text, budget)
    assert all(estimate_tokens(p) <= budget for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())
