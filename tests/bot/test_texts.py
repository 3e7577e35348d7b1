"""What the bot says: message splitting, durations and the refusal texts."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import chat_settings_texts as ct
from bot import texts
from bot.texts import MESSAGE_LIMIT, split_message
from runtime.formatting import format_duration


def non_space(text: str) -> str:
    return "".join(text.split())


# -- split_message -------------------------------------------------------------------------


def test_empty_and_blank_text_give_no_chunks() -> None:
    assert split_message("") == []
    assert split_message("   \n\n  \n") == []


def test_short_text_is_one_chunk_unchanged() -> None:
    assert split_message("Hello there. How are you?") == ["Hello there. How are you?"]


def test_default_limit_is_telegrams() -> None:
    text = " ".join(["word"] * 3000)  # 14999 characters
    chunks = split_message(text)
    assert MESSAGE_LIMIT == 4096
    assert len(chunks) == 4
    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_paragraphs_that_fit_together_stay_together() -> None:
    text = "First paragraph.\n\nSecond paragraph."
    assert split_message(text, 100) == [text]


def test_prefers_paragraph_boundaries() -> None:
    first = "Alpha beta gamma. Delta epsilon."  # 32
    second = "Zeta eta theta. Iota kappa lambda."  # 34
    chunks = split_message(f"{first}\n\n{second}", 50)
    assert chunks == [first, second]


def test_then_prefers_sentence_ends() -> None:
    one = "The first sentence is here."  # 27
    two = "The second one follows it."  # 26
    three = "And a third closes."  # 19
    chunks = split_message(f"{one} {two} {three}", 50)
    # Never a break inside a sentence while sentences fit.
    assert chunks == [one, f"{two} {three}"]
    assert all(c.endswith(".") for c in chunks)


def test_sentence_longer_than_limit_breaks_at_spaces() -> None:
    sentence = " ".join(f"w{i:02d}" for i in range(40)) + "."  # 160 characters
    chunks = split_message(sentence, 50)
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == sentence.split()
    assert len(chunks) == 4  # 12 four-letter words per chunk of at most 50


def test_word_longer_than_limit_is_cut() -> None:
    word = "x" * 125
    chunks = split_message(f"short {word} tail", 50)
    assert all(len(c) <= 50 for c in chunks)
    assert non_space(" ".join(chunks)) == non_space(f"short {word} tail")
    assert "x" * 50 in chunks


def test_no_blank_or_padded_chunks_around_long_words() -> None:
    # Regression: a line break or double space next to an over-long word used to give a
    # chunk "\n" (Telegram refuses an empty message) or one with a trailing space.
    assert split_message("a" * 20 + " \n " + "b" * 25, 20) == ["a" * 20, "b" * 20, "b" * 5]
    assert split_message("0  " + "a" * 40 + ".", 20) == ["0", "a" * 20, "a" * 20, "."]


def test_multiple_paragraphs_pack_greedily() -> None:
    paragraphs = [f"Paragraph number {i}." for i in range(10)]  # 20 characters each
    chunks = split_message("\n\n".join(paragraphs), 50)
    # Two paragraphs and their blank line (42) fit; a third would not (64).
    assert chunks == ["\n\n".join(paragraphs[i : i + 2]) for i in range(0, 10, 2)]


word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789,'-", min_size=1, max_size=12)
long_word = st.builds(lambda c, n: c * n, st.sampled_from("xyz"), st.integers(40, 130))
sentence = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(st.one_of(word, word, word, long_word), min_size=1, max_size=15),
    st.sampled_from([".", "!", "?", "…", "", ","]),
)
paragraph = st.builds(
    lambda sentences, sep: sep.join(sentences),
    st.lists(sentence, min_size=1, max_size=6),
    st.sampled_from([" ", "  ", "\n", " \n "]),
)
document = st.builds(
    lambda paragraphs, sep: sep.join(paragraphs),
    st.lists(paragraph, min_size=0, max_size=6),
    st.sampled_from(["\n\n", "\n\n\n", " \n\n ", "\n \n"]),
)


@settings(max_examples=150, deadline=None)
@given(text=document, limit=st.integers(min_value=20, max_value=80))
def test_split_property(text: str, limit: int) -> None:
    chunks = split_message(text, limit)
    assert all(0 < len(c) <= limit for c in chunks)
    assert all(c == c.strip() for c in chunks)
    # No character is lost, added or reordered; only whitespace may change.
    assert non_space("".join(chunks)) == non_space(text)
    if all(len(w) <= limit for w in text.split()):
        # Without over-long words, no word is cut either.
        assert " ".join(chunks).split() == text.split()
    if not text.strip():
        assert chunks == []


@settings(max_examples=100, deadline=None)
@given(words=st.lists(word, min_size=1, max_size=200))
def test_split_property_plain_words_limit_50(words: list[str]) -> None:
    text = " ".join(words)
    chunks = split_message(text, 50)
    assert all(len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == text.split()
    # Greedy: a chunk plus the next chunk's first word would not have fitted.
    for current, following in itertools.pairwise(chunks):
        assert len(current) + 1 + len(following.split()[0]) > 50


# -- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "0:00"),  # a clock that went back never shows a minus sign
        (0, "0:00"),
        (0.4, "0:00"),
        (5, "0:05"),
        (59, "0:59"),
        (59.6, "1:00"),
        (60, "1:00"),
        (75, "1:15"),
        (600, "10:00"),
        (3599, "59:59"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (36000 + 61, "10:01:01"),
    ],
)
def test_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_notes_plural() -> None:
    assert texts.notes(1) == "1 note"
    assert texts.notes(0) == "0 notes"
    assert texts.notes(2) == "2 notes"


# -- refusals ------------------------------------------------------------------------------


def test_too_long_names_limit_and_excess() -> None:
    text = texts.too_long(95, 60)
    assert "1:35" in text
    assert "limit is 1:00" in text
    assert "0:35 over" in text
    assert "not saved" in text


def test_too_long_over_an_hour() -> None:
    text = texts.too_long(2 * 3600 + 5, 1200)
    assert "2:00:05" in text
    assert "limit is 20:00" in text
    assert "1:40:05 over" in text


def test_too_big_names_limit_and_excess() -> None:
    mb = 1024 * 1024
    text = texts.too_big(25 * mb, 20 * mb)
    assert "25.0 MB" in text
    assert "at most 20.0 MB" in text
    assert "5.0 MB over" in text
    assert "not saved" in text


def test_access_closed_gives_the_user_id_and_setting() -> None:
    text = texts.access_closed(987654321)
    assert "987654321" in text
    assert "ALLOWED_USER_IDS" in text


def test_every_fixed_text_fits_a_message() -> None:
    for text in (texts.START, texts.HELP, texts.HINT, texts.NOTHING_TO_FINISH):
        assert 0 < len(text) <= MESSAGE_LIMIT
    commands = [c for c, _ in texts.COMMANDS]
    assert commands == [
        "start",
        "done",
        "undo",
        "cancel",
        "history",
        "get",
        "find",
        "ask",
        "forget",
        "lang",
        "vocab",
        "style",
        "status",
        "help",
    ]
    for command in commands:  # /help explains every command the menu offers
        assert f"/{command}" in texts.HELP


def test_forget_all_says_why_each_kept_session_was_kept() -> None:
    assert ct.forgot_all(3, 0, True) == (
        "Forgotten: 3 sessions and this chat's language, vocabulary and note style. "
        "Nothing of them is kept."
    )
    text = ct.forgot_all(1, 2, False, newer=1, failed=3)
    assert text.startswith("Forgotten: 1 session. Nothing of them is kept. ")
    assert "2 sessions were kept because still being transcribed or processed" in text
    assert "1 session begun after the question was kept: send /forget all again" in text
    assert "3 sessions could not be deleted right now (the bot's storage failed)" in text


def test_a_silent_note_is_not_quoted_as_if_it_were_said() -> None:
    said = texts.collecting(2, 5.0, (2, "Call the dentist"))
    assert "Note 2: \u201cCall the dentist\u201d" in said
    silent = texts.collecting(2, 5.0, (2, "  "))
    assert "Note 2: no speech recognised." in silent
    assert "\u201c" not in silent
