"""What the bot says about a chat's own settings: /lang, /vocab, their lines in /status, and
/forget all."""

from __future__ import annotations

from collections.abc import Sequence

from bot.texts import fit
from sessions.chat_settings import (
    AUTO_LANGUAGE,
    MAX_VOCABULARY_CHARS,
    MAX_VOCABULARY_WORDS,
    MAX_WORD_CHARS,
    ChatSettings,
)
from transcription.languages import WHISPER_LANGUAGES, language_name

EXAMPLE_WORDS = "Kubernetes, Zoë Ortega"
ENGLISH_ONLY = "Notes are transcribed in English: this bot's speech model knows no other language."
APPLIES_TO_NEXT = "It applies to notes not transcribed yet."
LANG_USAGE_TAIL = (
    "Tap a language below, or type /lang and a code, e.g. /lang fr. "
    "/lang auto recognises the language of each note; /lang default uses the bot's own "
    "setting; /lang list shows every language."
)
VOCAB_USAGE = (
    "/vocab - show this chat's vocabulary\n"
    f"/vocab add {EXAMPLE_WORDS} - add words and names, separated by commas\n"
    "/vocab remove Zoë Ortega - remove some\n"
    "/vocab clear - remove them all"
)
VOCAB_EMPTY = (
    "This chat has no vocabulary yet. Teach me the names and words I get wrong, and I "
    "will write them right in your transcripts:\n" + VOCAB_USAGE
)
VOCAB_NOTHING_GIVEN = "Which words? For example: /vocab add " + EXAMPLE_WORDS
SETTINGS_UNAVAILABLE = (
    "I cannot reach this chat's settings right now (the bot's database failed). "
    "Please try again in a minute."
)


def language_label(language: str | None, default_language: str | None) -> str:
    """A chat's language setting in words."""
    if language is None:
        return f"the bot's default ({_plain(default_language)})"
    return _plain(language)


def _plain(language: str | None) -> str:
    if language is None or language == AUTO_LANGUAGE:
        return "recognised for each note"
    return language_name(language)


def lang_status(settings: ChatSettings, default_language: str | None) -> str:
    current = language_label(settings.language, default_language)
    return f"Language of this chat's notes: {current}.\n\n{LANG_USAGE_TAIL}"


def lang_english_only(settings: ChatSettings) -> str:
    """/lang (any form) with an English-only model: one line, for whoever asks."""
    if settings.language in (None, "en"):
        return ENGLISH_ONLY
    return (
        f"{ENGLISH_ONLY[:-1]} (this chat's choice, {_plain(settings.language)}, waits for "
        "one that does; /lang default forgets it)."
    )


def lang_set(language: str | None, default_language: str | None) -> str:
    return (
        f"Language of this chat's notes: {language_label(language, default_language)}. "
        f"{APPLIES_TO_NEXT}"
    )


def lang_unknown(typed: str) -> str:
    return (
        f'I don\'t know the language "{typed[:40]}". Type a language code such as en, de, '
        "fr, es or ja (/lang list shows all of them), auto to recognise each note's "
        "language, or default for the bot's own setting."
    )


def lang_list() -> str:
    entries = [f"{code} {name}" for code, name in sorted(WHISPER_LANGUAGES.items())]
    return "Languages I know (type /lang and the code):\n" + ", ".join(entries)


def vocabulary(settings: ChatSettings) -> str:
    if not settings.vocabulary:
        return VOCAB_EMPTY
    words = settings.vocabulary
    return fit(
        f"This chat's vocabulary ({len(words)} of {MAX_VOCABULARY_WORDS} words and names, "
        f"{len(', '.join(words))} of {MAX_VOCABULARY_CHARS} characters):\n"
        f"{', '.join(words)}\n\n"
        "The speech model is told these, so it writes them right.\n" + VOCAB_USAGE
    )


SHOWN_WORDS = 10
"""Words an answer to /vocab add or remove repeats of the ones typed (the rest counted)."""


def _listed(words: Sequence[str], shown: int = SHOWN_WORDS) -> str:
    """The first ``shown`` of ``words`` (each cut to a vocabulary word's length), then how
    many more: what a chat typed is repeated, but never past Telegram's limit."""
    listed = ", ".join(_cut(w) for w in words[:shown])
    more = len(words) - shown
    return f"{listed} and {more} more" if more > 0 else listed


def _cut(word: str) -> str:
    return word if len(word) <= MAX_WORD_CHARS else word[: MAX_WORD_CHARS - 1] + "…"


def vocab_added(added: list[str], already: list[str], settings: ChatSettings) -> str:
    lines = []
    if added:
        lines.append(f"Added: {_listed(added)}. {APPLIES_TO_NEXT}")
    if already:
        lines.append(f"Already in the vocabulary: {_listed(already)}.")
    lines.append(f"The vocabulary now has {_words(len(settings.vocabulary))}.")
    return fit("\n".join(lines))


def vocab_refused(reason: str, *, word_too_long: bool = False) -> str:
    """/vocab add refused: a word too long (a shorter form helps; removing others would not),
    or a vocabulary that would be too full (removing words makes room)."""
    if word_too_long:
        return fit(
            f"{reason} Nothing was added. Separate words and names with commas "
            "(/vocab add Kubernetes, Zoë Ortega), or add a shorter form of it."
        )
    return fit(f"{reason} Nothing was added; /vocab remove makes room.")


def vocab_removed(removed: list[str], missing: list[str], settings: ChatSettings) -> str:
    lines = []
    if removed:
        lines.append(f"Removed: {_listed(removed)}.")
    if missing:
        lines.append(f"Not in the vocabulary: {_listed(missing)}.")
    lines.append(f"The vocabulary now has {_words(len(settings.vocabulary))}.")
    return fit("\n".join(lines))


def vocab_cleared(removed: tuple[str, ...]) -> str:
    if not removed:
        return "The vocabulary was empty already."
    return fit(f"Vocabulary cleared. It held: {', '.join(removed)}.")


def _words(count: int) -> str:
    return "1 word" if count == 1 else f"{count} words"


def status_lines(settings: ChatSettings, default_language: str | None, multilingual: bool) -> str:
    """The chat's settings as /status shows them."""
    if multilingual:
        language = f"Language: {language_label(settings.language, default_language)}."
    else:
        language = "Language: English (the speech model knows English only)."
    if settings.vocabulary:
        vocab = f"Vocabulary: {', '.join(settings.vocabulary)}."
    else:
        vocab = "Vocabulary: none (/vocab add teaches me names and words)."
    return f"{language}\n{vocab}"


# -- /forget all ---------------------------------------------------------------------------


def forget_all_question(sessions: int, settings: ChatSettings) -> str:
    what = [f"all {sessions} sessions" if sessions != 1 else "its 1 session"]
    if not settings.is_default:
        what.append("its language, vocabulary and note style")
    if sessions == 0 and settings.is_default:
        return "This chat has no sessions and no settings: there is nothing to forget."
    return (
        f"Forget everything of this chat: {' and '.join(what)}? Recordings, transcripts and "
        "files are deleted for good."
    )


def forgot_all(
    deleted: int, busy: int, settings_removed: bool, *, newer: int = 0, failed: int = 0
) -> str:
    """The answer to Yes: what was forgotten, and each reason some sessions were kept."""
    parts = [f"Forgotten: {_sessions(deleted)}"]
    if settings_removed:
        parts.append("this chat's language, vocabulary and note style")
    text = " and ".join(parts) + ". Nothing of them is kept."
    if busy:
        text += (
            f" {_sessions(busy)} {_were(busy)} kept because still being transcribed or "
            "processed: send /forget all again once that is done."
        )
    if newer:
        text += (
            f" {_sessions(newer)} begun after the question {_were(newer)} kept: send "
            f"/forget all again to forget {'it' if newer == 1 else 'them'} too."
        )
    if failed:
        text += (
            f" {_sessions(failed)} could not be deleted right now (the bot's storage failed) "
            f"and {_were(failed)} kept whole: please try again in a minute."
        )
    return text


def _sessions(count: int) -> str:
    return "1 session" if count == 1 else f"{count} sessions"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


FORGET_ALL_UNAVAILABLE = (
    "Nothing was deleted: I cannot reach this chat's settings right now (the bot's database "
    "failed). Please try again in a minute."
)
KEPT_ALL = "Nothing was deleted."
FORGET_ALL_EXPIRED = (
    "Nothing was deleted: that question is more than 10 minutes old. Send /forget all again "
    "if you still want it."
)
