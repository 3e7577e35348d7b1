"""What the bot says about a chat's own settings: /lang, /vocab, their lines in /status, and
/forget all. In the current update's language (:mod:`bot.i18n`)."""

from __future__ import annotations

from collections.abc import Sequence

from babel import UnknownLocaleError

from bot.dates import babel_locale
from bot.i18n import DEFAULT_LOCALE, N_, _, current_locale, ngettext, translated
from bot.texts import fit
from sessions.chat_settings import (
    AUTO_LANGUAGE,
    MAX_VOCABULARY_CHARS,
    MAX_VOCABULARY_WORDS,
    MAX_WORD_CHARS,
    ChatSettings,
    VocabularyLimitError,
)
from transcription.languages import WHISPER_LANGUAGES

EXAMPLE_WORDS = "Kubernetes, Zoë Ortega"

# The translated constants (declared for the type checker, answered by __getattr__).
ENGLISH_ONLY: str
APPLIES_TO_NEXT: str
LANG_USAGE_TAIL: str
VOCAB_USAGE: str
VOCAB_EMPTY: str
VOCAB_NOTHING_GIVEN: str
SETTINGS_UNAVAILABLE: str
FORGET_ALL_UNAVAILABLE: str
KEPT_ALL: str
FORGET_ALL_EXPIRED: str

_TEXTS = {
    "english_only": N_(
        "Notes are transcribed in English: this bot's speech model knows no other language."
    ),
    "applies_to_next": N_("It applies to notes not transcribed yet."),
    "lang_usage_tail": N_(
        "Tap a language below, or type /lang and a code, e.g. /lang fr. /lang auto recognises "
        "the language of each note; /lang default uses the bot's own setting; /lang list "
        "shows every language."
    ),
    "settings_unavailable": N_(
        "I cannot reach this chat's settings right now (the bot's database failed). Please "
        "try again in a minute."
    ),
    "forget_all_unavailable": N_(
        "Nothing was deleted: I cannot reach this chat's settings right now (the bot's "
        "database failed). Please try again in a minute."
    ),
    "kept_all": N_("Nothing was deleted."),
    "forget_all_expired": N_(
        "Nothing was deleted: that question is more than 10 minutes old. Send /forget all "
        "again if you still want it."
    ),
}


def _vocab_usage() -> str:
    return _(
        "/vocab - show this chat's vocabulary\n"
        "/vocab add {words} - add words and names, separated by commas\n"
        "/vocab remove Zoë Ortega - remove some\n"
        "/vocab clear - remove them all"
    ).format(words=EXAMPLE_WORDS)


def _vocab_empty() -> str:
    return _(
        "This chat has no vocabulary yet. Teach me the names and words I get wrong, and I "
        "will write them right in your transcripts:\n{usage}"
    ).format(usage=_vocab_usage())


def _vocab_nothing_given() -> str:
    return _("Which words? For example: /vocab add {words}").format(words=EXAMPLE_WORDS)


# Constants that quote another text: built when read.
_BUILT = {
    "vocab_usage": _vocab_usage,
    "vocab_empty": _vocab_empty,
    "vocab_nothing_given": _vocab_nothing_given,
}


def __getattr__(name: str) -> str:
    built = _BUILT.get(name.lower()) if name.isupper() else None
    return built() if built is not None else translated(_TEXTS, name, __name__)


def language_label(language: str | None, default_language: str | None) -> str:
    """A chat's language setting in words."""
    if language is None:
        return _("the bot's default ({language})").format(language=_plain(default_language))
    return _plain(language)


def _plain(language: str | None) -> str:
    if language is None or language == AUTO_LANGUAGE:
        return _("recognised for each note")
    return language_name(language)


def language_word(code: str) -> str:
    """A language's name in the current language ("German", "Deutsch", "немецкий"): Babel's
    where it knows the code, else Whisper's English name; an unknown code as itself."""
    english = WHISPER_LANGUAGES.get(code)
    name = current_locale()
    if name != DEFAULT_LOCALE:
        try:
            own = babel_locale(name).languages.get(code)
        except (UnknownLocaleError, ValueError):
            own = None
        if isinstance(own, str) and own:
            return own
    return english or code


def language_name(code: str) -> str:
    """A language's name and code: "German (de)"; an unknown code as itself."""
    return f"{language_word(code)} ({code})" if code in WHISPER_LANGUAGES else code


def lang_status(settings: ChatSettings, default_language: str | None) -> str:
    current = language_label(settings.language, default_language)
    return _("Language of this chat's notes: {language}.\n\n{usage}").format(
        language=current, usage=_(_TEXTS["lang_usage_tail"])
    )


def lang_english_only(settings: ChatSettings) -> str:
    """/lang (any form) with an English-only model: one line, for whoever asks."""
    if settings.language in (None, "en"):
        return _(_TEXTS["english_only"])
    return _(
        "Notes are transcribed in English: this bot's speech model knows no other language "
        "(this chat's choice, {language}, waits for one that does; /lang default forgets it)."
    ).format(language=_plain(settings.language))


def lang_set(language: str | None, default_language: str | None) -> str:
    return _("Language of this chat's notes: {language}. {applies}").format(
        language=language_label(language, default_language),
        applies=_(_TEXTS["applies_to_next"]),
    )


def lang_unknown(typed: str) -> str:
    return _(
        'I don\'t know the language "{typed}". Type a language code such as en, de, fr, es '
        "or ja (/lang list shows all of them), auto to recognise each note's language, or "
        "default for the bot's own setting."
    ).format(typed=typed[:40])


def lang_list() -> str:
    entries = [f"{code} {language_word(code)}" for code in sorted(WHISPER_LANGUAGES)]
    return _("Languages I know (type /lang and the code):\n{languages}").format(
        languages=", ".join(entries)
    )


def vocabulary(settings: ChatSettings) -> str:
    if not settings.vocabulary:
        return _vocab_empty()
    words = settings.vocabulary
    return fit(
        _(
            "This chat's vocabulary ({count} of {max_words} words and names, {chars} of "
            "{max_chars} characters):\n{words}\n\n"
            "The speech model is told these, so it writes them right.\n{usage}"
        ).format(
            count=len(words),
            max_words=MAX_VOCABULARY_WORDS,
            chars=len(", ".join(words)),
            max_chars=MAX_VOCABULARY_CHARS,
            words=", ".join(words),
            usage=_vocab_usage(),
        )
    )


SHOWN_WORDS = 10
"""Words an answer to /vocab add or remove repeats of the ones typed (the rest counted)."""


def _listed(words: Sequence[str], shown: int = SHOWN_WORDS) -> str:
    """The first ``shown`` of ``words`` (each cut to a vocabulary word's length), then how
    many more: what a chat typed is repeated, but never past Telegram's limit."""
    listed = ", ".join(_cut(w) for w in words[:shown])
    more = len(words) - shown
    if more > 0:
        return _("{words} and {count} more").format(words=listed, count=more)
    return listed


def _cut(word: str) -> str:
    return word if len(word) <= MAX_WORD_CHARS else word[: MAX_WORD_CHARS - 1] + "…"


def vocab_added(added: list[str], already: list[str], settings: ChatSettings) -> str:
    lines = []
    if added:
        lines.append(
            _("Added: {words}. {applies}").format(
                words=_listed(added), applies=_(_TEXTS["applies_to_next"])
            )
        )
    if already:
        lines.append(_("Already in the vocabulary: {words}.").format(words=_listed(already)))
    lines.append(_vocabulary_size(len(settings.vocabulary)))
    return fit("\n".join(lines))


def vocab_refused(refused: VocabularyLimitError) -> str:
    """/vocab add refused: a word too long (a shorter form helps; removing others would not),
    or a vocabulary that would be too full (removing words makes room)."""
    if refused.word_too_long:
        reason = _('"{word}..." is too long: at most {maximum} characters a word or name.').format(
            word=refused.word, maximum=refused.maximum
        )
        return fit(
            _(
                "{reason} Nothing was added. Separate words and names with commas (/vocab add "
                "Kubernetes, Zoë Ortega), or add a shorter form of it."
            ).format(reason=reason)
        )
    if refused.limit == "words":
        reason = _("That would make {size} words; the vocabulary holds at most {maximum}.")
    else:
        reason = _(
            "That would make {size} characters; the vocabulary holds at most {maximum} (the "
            "speech model reads only so much)."
        )
    reason = reason.format(size=refused.size, maximum=refused.maximum)
    return fit(_("{reason} Nothing was added; /vocab remove makes room.").format(reason=reason))


def vocab_removed(removed: list[str], missing: list[str], settings: ChatSettings) -> str:
    lines = []
    if removed:
        lines.append(_("Removed: {words}.").format(words=_listed(removed)))
    if missing:
        lines.append(_("Not in the vocabulary: {words}.").format(words=_listed(missing)))
    lines.append(_vocabulary_size(len(settings.vocabulary)))
    return fit("\n".join(lines))


def vocab_cleared(removed: tuple[str, ...]) -> str:
    if not removed:
        return _("The vocabulary was empty already.")
    return fit(_("Vocabulary cleared. It held: {words}.").format(words=", ".join(removed)))


def _vocabulary_size(count: int) -> str:
    return ngettext(
        "The vocabulary now has {count} word.", "The vocabulary now has {count} words.", count
    ).format(count=count)


def status_lines(settings: ChatSettings, default_language: str | None, multilingual: bool) -> str:
    """The chat's settings as /status shows them."""
    if multilingual:
        language = _("Language: {language}.").format(
            language=language_label(settings.language, default_language)
        )
    else:
        language = _("Language: English (the speech model knows English only).")
    if settings.vocabulary:
        vocab = _("Vocabulary: {words}.").format(words=", ".join(settings.vocabulary))
    else:
        vocab = _("Vocabulary: none (/vocab add teaches me names and words).")
    return f"{language}\n{vocab}"


# -- /forget all ---------------------------------------------------------------------------


def forget_all_question(sessions: int, settings: ChatSettings) -> str:
    if sessions == 0 and settings.is_default:
        return _("This chat has no sessions and no settings: there is nothing to forget.")
    what = ngettext("its {count} session", "all {count} sessions", sessions).format(count=sessions)
    if not settings.is_default:
        what = _("{sessions} and its language, vocabulary and note style").format(sessions=what)
    return _(
        "Forget everything of this chat: {what}? Recordings, transcripts and files are "
        "deleted for good."
    ).format(what=what)


def forgot_all(
    deleted: int, busy: int, settings_removed: bool, *, newer: int = 0, failed: int = 0
) -> str:
    """The answer to Yes: what was forgotten, and each reason some sessions were kept."""
    if settings_removed:
        text = ngettext(
            "Forgotten: {count} session and this chat's language, vocabulary and note style. "
            "Nothing of them is kept.",
            "Forgotten: {count} sessions and this chat's language, vocabulary and note style. "
            "Nothing of them is kept.",
            deleted,
        ).format(count=deleted)
    else:
        text = ngettext(
            "Forgotten: {count} session. Nothing of them is kept.",
            "Forgotten: {count} sessions. Nothing of them is kept.",
            deleted,
        ).format(count=deleted)
    if busy:
        text += " " + ngettext(
            "{count} session was kept because still being transcribed or processed: send "
            "/forget all again once that is done.",
            "{count} sessions were kept because still being transcribed or processed: send "
            "/forget all again once that is done.",
            busy,
        ).format(count=busy)
    if newer:
        text += " " + ngettext(
            "{count} session begun after the question was kept: send /forget all again to "
            "forget it too.",
            "{count} sessions begun after the question were kept: send /forget all again to "
            "forget them too.",
            newer,
        ).format(count=newer)
    if failed:
        text += " " + ngettext(
            "{count} session could not be deleted right now (the bot's storage failed) and "
            "was kept whole: please try again in a minute.",
            "{count} sessions could not be deleted right now (the bot's storage failed) and "
            "were kept whole: please try again in a minute.",
            failed,
        ).format(count=failed)
    return text
