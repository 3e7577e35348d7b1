"""Texts that must stay within Telegram's limits and keep server paths out of the chat."""

from __future__ import annotations

from bot import chat_settings_texts as ct
from bot import texts
from sessions import ChatSettings


def test_fit_cuts_to_the_limit_and_says_so() -> None:
    assert texts.fit("short") == "short"
    cut = texts.fit("x" * 5000)
    assert len(cut) == texts.MESSAGE_LIMIT
    assert cut.endswith("…")
    assert len(texts.fit("y" * 2000, texts.CAPTION_LIMIT)) == 1024


def test_pack_lines_never_exceeds_the_limit_and_keeps_every_line() -> None:
    lines = [f"line {n} " + "z" * (n % 90) for n in range(400)]
    messages = texts.pack_lines(lines, 500)
    assert all(len(m) <= 500 for m in messages)
    assert "\n".join(messages).splitlines() == lines
    [long] = texts.pack_lines(["w" * 900], 500)
    assert len(long) == 500


def test_server_paths_become_file_names() -> None:
    reason = "[Errno 2] No such file: '/data/sessions/2026-01-01_00-00-00/audio/001_audio.ogg'"
    assert texts.without_paths(reason) == "[Errno 2] No such file: '001_audio.ogg'"
    untouched = "see https://example.org/a/b, 1/2 of it, process/input.txt and ~/x"
    assert texts.without_paths(untouched) == untouched


def test_processing_failure_names_the_session_and_is_short() -> None:
    reason = "boom at /srv/bot/data/x.txt " + "!" * 1000
    text = texts.processing_failed(reason, "2026-01-01_00-00-00")
    assert text.startswith("Processing the transcript failed (session 2026-01-01_00-00-00): boom")
    assert "/srv" not in text
    assert len(text) < 400


def test_vocabulary_answers_repeat_a_few_of_the_words_typed() -> None:
    typed = [f"word{n}" for n in range(2000)]
    settings = ChatSettings(vocabulary=("Kubernetes",))
    removed = ct.vocab_removed(typed, typed, settings)
    assert removed.startswith("Removed: word0, word1, word2, word3, word4, word5, word6,")
    assert "word9 and 1990 more." in removed
    added = ct.vocab_added(typed, ["y" * 5000], settings)
    tail = f"Already in the vocabulary: {'y' * 59}….\nThe vocabulary now has 1 word."
    assert added.endswith(tail)
    assert len(ct.vocab_cleared(tuple(typed))) == texts.MESSAGE_LIMIT
    assert len(ct.vocabulary(ChatSettings(vocabulary=tuple(typed)))) == texts.MESSAGE_LIMIT
