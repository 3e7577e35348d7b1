"""A chat's own settings: the language its notes are transcribed in, its vocabulary, and
the style of the written note made after each transcript.

Kept per chat in a small SQLite file of their own beside the session library's index (see
:mod:`library.chat_settings_store`), read by the transcription for every note and removed
with the chat's sessions by ``/forget all``. Nothing here knows Whisper: a language is a code the
consumer checks against its model; the limits keep a vocabulary well inside a Whisper prompt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Protocol

from pydantic import BaseModel, ConfigDict, field_validator

AUTO_LANGUAGE = "auto"
"""Detect each note's language (a multilingual model only)."""

MAX_VOCABULARY_WORDS = 50
MAX_VOCABULARY_CHARS = 300
"""Characters of the whole vocabulary, written as it is sent (``"a, b, c"``). Whisper's
prompt holds at most 223 tokens and faster-whisper cuts the rest off: 300 characters of
names are about 80-120 tokens, which leaves room for the note's own previous text."""
MAX_WORD_CHARS = 60

STYLE_OFF = "off"
"""No written note after the transcripts (set explicitly; None is the deployment's default)."""
NOTE_STYLES = ("clean", "summary", "todo", "minutes", "custom")
"""The written notes' styles a chat can choose (``notes.styles.Style`` has the same values)."""
CUSTOM_STYLE = "custom"
MAX_STYLE_INSTRUCTION_CHARS = 500
"""A custom style's instruction is cut to this: it goes into every prompt of the chat."""

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_SPACES = re.compile(r"\s+")


class VocabularyLimitError(ValueError):
    """A vocabulary change would break a limit; the message says which (in English, for the
    log), the attributes say it as data for a caller that words it itself: ``limit`` is
    ``"word"`` (one word or name longer than a word may be: making room would not help, a
    shorter spelling would; ``word`` is its start), ``"words"`` or ``"characters"``;
    ``size`` what the change would make, ``maximum`` what is allowed."""

    def __init__(
        self, message: str, *, limit: str, size: int, maximum: int, word: str = ""
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size
        self.maximum = maximum
        self.word = word

    @property
    def word_too_long(self) -> bool:
        return self.limit == "word"


def clean_word(word: str) -> str:
    """A vocabulary entry as stored: NFC, single spaces, no control characters, trimmed."""
    text = unicodedata.normalize("NFC", word)
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return _SPACES.sub(" ", text).strip()


def _key(word: str) -> str:
    return clean_word(word).casefold()


class ChatSettings(BaseModel):
    """One chat's settings. ``language``: None (the deployment's default), ``"auto"`` or
    a language code (``"de"``); ``vocabulary``: words and names, in the order added.

    The limits are checked when the vocabulary is changed (:meth:`with_words`), not when
    stored settings are read: settings kept under other limits stay readable."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # a newer version's fields

    language: str | None = None
    vocabulary: tuple[str, ...] = ()
    # None: the deployment's default style; "off": explicitly no note after the transcript.
    style: str | None = None
    style_instruction: str | None = None  # the custom style's instruction
    # /speakers on: speaker turns inside this chat's recordings (where the owner enabled
    # DIARIZATION). Settings stored before it existed read as off.
    speakers: bool = False

    @field_validator("language")
    @classmethod
    def _known_form(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value != AUTO_LANGUAGE and not _LANGUAGE.match(value):
            raise ValueError(f"not a language code: {value!r}")
        return value

    @field_validator("vocabulary")
    @classmethod
    def _clean(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(w for w in (clean_word(w) for w in value) if w)

    @field_validator("style", mode="before")
    @classmethod
    def _known_style(cls, value: object) -> object:
        # A style this version does not know (a newer one's) reads as the default: the
        # chat's other settings stay readable.
        if isinstance(value, str):
            value = value.strip().lower()
            return value if value == STYLE_OFF or value in NOTE_STYLES else None
        return value

    @field_validator("style_instruction")
    @classmethod
    def _clean_instruction(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return clean_word(value)[:MAX_STYLE_INSTRUCTION_CHARS].strip() or None

    @property
    def is_default(self) -> bool:
        """Whether nothing is set: the chat is served with the deployment's settings."""
        return (
            self.language is None
            and not self.vocabulary
            and self.style is None
            and self.style_instruction is None
            and not self.speakers
        )

    def with_speakers(self, on: bool) -> ChatSettings:
        return self.model_copy(update={"speakers": on})

    def with_language(self, language: str | None) -> ChatSettings:
        return self.model_copy(update={"language": ChatSettings(language=language).language})

    def with_style(self, style: str | None, instruction: str | None = None) -> ChatSettings:
        """The chat's note style: None (the deployment's default), ``"off"``, or one of
        :data:`NOTE_STYLES`; ``"custom"`` needs ``instruction`` (cleaned, cut to
        :data:`MAX_STYLE_INSTRUCTION_CHARS`). ValueError for an unknown style or a custom
        style without an instruction. Other styles keep no instruction."""
        if style is not None:
            style = style.strip().lower()
            if style != STYLE_OFF and style not in NOTE_STYLES:
                raise ValueError(f"unknown note style: {style[:40]!r}")
        cleaned = None
        if style == CUSTOM_STYLE:
            cleaned = ChatSettings(style_instruction=instruction).style_instruction
            if cleaned is None:
                raise ValueError("a custom style needs an instruction")
        return self.model_copy(update={"style": style, "style_instruction": cleaned})

    def with_words(self, words: Iterable[str]) -> ChatSettings:
        """The vocabulary with ``words`` appended (those already there, in any case, are
        skipped). VocabularyLimitError when the result breaks a limit."""
        vocabulary = list(self.vocabulary)
        known = {_key(w) for w in vocabulary}
        for word in words:
            cleaned = clean_word(word)
            if cleaned and _key(cleaned) not in known:
                known.add(_key(cleaned))
                vocabulary.append(cleaned)
        check_vocabulary(vocabulary)
        return self.model_copy(update={"vocabulary": tuple(vocabulary)})

    def without_words(self, words: Iterable[str]) -> tuple[ChatSettings, list[str]]:
        """The vocabulary without ``words`` (compared ignoring case), and those of
        ``words`` that were not in it."""
        wanted = {_key(w): clean_word(w) for w in words if clean_word(w)}
        kept = tuple(w for w in self.vocabulary if _key(w) not in wanted)
        present = {_key(w) for w in self.vocabulary}
        missing = [w for k, w in wanted.items() if k not in present]
        return self.model_copy(update={"vocabulary": kept}), missing

    def hotwords(self) -> str | None:
        """The vocabulary as one prompt text (``"Kubernetes, Zoë Ortega"``), or None."""
        return vocabulary_text(self.vocabulary) or None


def vocabulary_text(words: Iterable[str]) -> str:
    return ", ".join(words)


def check_vocabulary(words: list[str] | tuple[str, ...]) -> None:
    """VocabularyLimitError (saying which limit, for people) unless ``words`` fit."""
    for word in words:
        if len(word) > MAX_WORD_CHARS:
            raise VocabularyLimitError(
                f'"{word[:MAX_WORD_CHARS]}..." is too long: at most {MAX_WORD_CHARS} '
                "characters a word or name.",
                limit="word",
                size=len(word),
                maximum=MAX_WORD_CHARS,
                word=word[:MAX_WORD_CHARS],
            )
    if len(words) > MAX_VOCABULARY_WORDS:
        raise VocabularyLimitError(
            f"That would make {len(words)} words; the vocabulary holds at most "
            f"{MAX_VOCABULARY_WORDS}.",
            limit="words",
            size=len(words),
            maximum=MAX_VOCABULARY_WORDS,
        )
    total = len(vocabulary_text(words))
    if total > MAX_VOCABULARY_CHARS:
        raise VocabularyLimitError(
            f"That would make {total} characters; the vocabulary holds at most "
            f"{MAX_VOCABULARY_CHARS} (the speech model reads only so much).",
            limit="characters",
            size=total,
            maximum=MAX_VOCABULARY_CHARS,
        )


class ChatSettingsStore(Protocol):
    """Where chats' settings are kept (their own SQLite file, beside the library's index)."""

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        """The chat's stored settings, or None when it has none."""
        ...

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        """Store the chat's settings (default settings remove the chat's row)."""
        ...

    async def delete_chat_settings(self, chat_id: int) -> bool:
        """Remove the chat's settings for good; whether it had any."""
        ...


class MemoryChatSettings:
    """A :class:`ChatSettingsStore` in memory: for a manager used without the library
    (tests, tools); the bot always keeps settings in their SQLite file."""

    def __init__(self) -> None:
        self._settings: dict[int, ChatSettings] = {}

    async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
        return self._settings.get(chat_id)

    async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
        if settings.is_default:
            self._settings.pop(chat_id, None)
        else:
            self._settings[chat_id] = settings

    async def delete_chat_settings(self, chat_id: int) -> bool:
        return self._settings.pop(chat_id, None) is not None


__all__ = [
    "AUTO_LANGUAGE",
    "CUSTOM_STYLE",
    "MAX_STYLE_INSTRUCTION_CHARS",
    "MAX_VOCABULARY_CHARS",
    "MAX_VOCABULARY_WORDS",
    "MAX_WORD_CHARS",
    "NOTE_STYLES",
    "STYLE_OFF",
    "ChatSettings",
    "ChatSettingsStore",
    "MemoryChatSettings",
    "VocabularyLimitError",
    "check_vocabulary",
    "clean_word",
]
