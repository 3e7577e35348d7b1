"""What lower packages say reaches the chat in the reader's language: the vocabulary's
limits, the note engine's reasons, speakers and note kinds in a transcript, language names;
written notes (sent outside an update) in the chat's language; /help offers /lang only
with a model that knows other languages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from aiogram.utils.i18n import I18n

from bot import chat_settings_texts as ct
from bot import note_texts as nt
from bot import texts
from bot.i18n import ChatLanguages, ChatSpeech, speaking
from bot.services.delivery import Courier, Part
from bot.services.notes import NoteDelivery
from bot.transcript_texts import build_transcript
from notes import ask, client, service
from notes.service import NoteFailure, NoteService, WrittenNote
from sessions import (
    AudioEntry,
    ChatSettings,
    Session,
    SessionManager,
    Speaker,
    SpeakerKind,
    TranscriptionStatus,
    VocabularyLimitError,
)
from sessions.chat_settings import MAX_VOCABULARY_CHARS, MAX_VOCABULARY_WORDS, MAX_WORD_CHARS

START = datetime(2026, 12, 2, 8, 46, tzinfo=UTC)
GROUP = -100_77


def refused(words: list[str]) -> VocabularyLimitError:
    with pytest.raises(VocabularyLimitError) as caught:
        ChatSettings().with_words(words)
    return caught.value


LIMITS = [
    ["x" * (MAX_WORD_CHARS + 1)],
    [f"w{n}" for n in range(MAX_VOCABULARY_WORDS + 1)],
    [f"{n:02d}" + "y" * 40 for n in range(8)],
]


def test_the_vocabularys_limits_are_said_in_english_as_before() -> None:
    long_word, too_many, too_long = (ct.vocab_refused(refused(words)) for words in LIMITS)
    assert long_word.startswith(
        f'"{"x" * MAX_WORD_CHARS}..." is too long: at most {MAX_WORD_CHARS} characters a word '
        "or name. Nothing was added."
    )
    assert too_many == (
        f"That would make {MAX_VOCABULARY_WORDS + 1} words; the vocabulary holds at most "
        f"{MAX_VOCABULARY_WORDS}. Nothing was added; /vocab remove makes room."
    )
    assert too_long.startswith("That would make 350 characters; the vocabulary holds at most ")
    assert str(refused(LIMITS[2])).startswith("That would make 350 characters")  # the log's


@pytest.mark.parametrize("language", ["de", "ru"])
def test_the_vocabularys_limits_are_said_in_the_readers_language(i18n: I18n, language: str) -> None:
    for words in LIMITS:
        error = refused(words)
        with speaking(i18n, language):
            said = ct.vocab_refused(error)
        assert "would make" not in said
        assert "too long" not in said
        assert str(error.maximum) in said
    assert refused(LIMITS[2]).maximum == MAX_VOCABULARY_CHARS


def test_every_reason_of_the_note_engine_is_translated(i18n: I18n) -> None:
    """The engine's reasons are its modules' constants: each one is known to the bot."""
    engine = [
        value
        for module in (client, service, ask)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and value.startswith(("the ", "something"))
    ]
    assert len(engine) == len(nt.REASONS) == 9
    assert set(engine) == set(nt.REASONS)
    for reason in engine:
        with speaking(i18n, "de"):
            german = nt.note_failed("Summary", reason)
        assert reason not in german
        assert nt.note_failed("Summary", reason).startswith(
            f"The summary could not be written: {reason}."
        )


@pytest.mark.usefixtures("german")
def test_a_transcripts_speakers_and_note_kinds_are_in_the_readers_language() -> None:
    ben = Speaker(name="Ben Miller", kind=SpeakerKind.USER, user_id=42)
    anna = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
    channel = Speaker(name="", kind=SpeakerKind.CHANNEL, signature="Eva")
    entries = [
        AudioEntry(sequence=1, filename="001.ogg", duration_seconds=5, speaker=anna),
        AudioEntry(sequence=2, filename="002.ogg", duration_seconds=5, speaker=ben, forwarded=True),
        AudioEntry(sequence=3, filename="003.ogg", duration_seconds=5, kind="video_note"),
        AudioEntry(sequence=4, filename="004.m4a", duration_seconds=5, kind="audio"),
        AudioEntry(
            sequence=5, filename="005.ogg", duration_seconds=5, speaker=channel, forwarded=True
        ),
    ]
    for e in entries:
        e.received_at = START + timedelta(minutes=e.sequence)
        e.transcription_status = TranscriptionStatus.COMPLETED
    session = Session(
        session_id="2026-12-02_08-46-00", chat_id=GROUP, created_at=START, audio_entries=entries
    )
    plain = build_transcript(session, dict.fromkeys(range(1, 6), "Hallo"), UTC).plain
    assert "Nachricht 1 · 08:47 · 0:05 · Anna\n" in plain
    assert "weitergeleitet: Ben Miller" in plain  # no case to decline: "ein Kanal"
    assert "rundes Video" in plain
    assert "Audiodatei" in plain
    assert "Kanal (Eva)" in plain
    assert not re.search(r"forwarded|round video|audio file|a channel", plain)


def test_language_names_are_in_the_readers_language(i18n: I18n) -> None:
    assert ct.language_name("de") == "German (de)"
    with speaking(i18n, "de"):
        assert ct.language_name("de") == "Deutsch (de)"
        assert "fr Französisch" in ct.lang_list()
    with speaking(i18n, "ru"):
        assert ct.language_name("en") == "английский (en)"


def test_help_offers_lang_only_with_a_multilingual_model(i18n: I18n) -> None:
    assert texts.help_text(multilingual=True) == texts.HELP
    for language in ("en", "de", "ru"):
        with speaking(i18n, language):
            full = texts.help_text(multilingual=True)
            short = texts.help_text(multilingual=False)
        assert "/lang" in full
        assert "/lang" not in short
        assert len(short.splitlines()) == len(full.splitlines()) - 1


class _Manager:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def get_session(self, session_id: str) -> Session | None:
        return self.session


class _Courier:
    def __init__(self) -> None:
        self.sent: list[Part] = []

    async def send_all(self, session: Session, parts: list[Part]) -> None:
        self.sent += parts

    async def send(self, session: Session, part: Part, *, record: bool = True) -> None:
        self.sent.append(part)


class _Notes:
    async def mark_delivered(self, session_id: str, key: str) -> None:
        pass


async def test_written_notes_are_sent_in_the_chats_language(i18n: I18n) -> None:
    """A note is sent outside any update: in the language last seen in its chat."""
    session = Session(session_id="2026-12-02_08-46-00", chat_id=GROUP, created_at=START)
    languages = ChatLanguages()
    languages.seen(GROUP, "de")
    courier = _Courier()
    delivery = NoteDelivery(
        cast(SessionManager, _Manager(session)),
        cast(Courier, courier),
        cast(NoteService, _Notes()),
        ChatSpeech(i18n, languages),
    )
    note = WrittenNote(session.session_id, "summary", None, "Summary", "- a", ["<b>a</b>"])
    await delivery.deliver(note)
    await delivery.report(NoteFailure(session.session_id, "todo", client.BUSY))
    texts_sent = [p.text for p in courier.sent if p.text]
    assert texts_sent[0].startswith("<b>Zusammenfassung</b>")
    failure = courier.sent[-1]
    assert failure.text is not None
    assert "ausgelastet" in failure.text
    keyboard = cast(Any, failure.keyboard)
    assert keyboard.inline_keyboard[0][0].text != "Try again"
    caption = [p.caption for p in courier.sent if p.caption]
    assert caption == ["Zusammenfassung"]
