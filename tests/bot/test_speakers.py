"""Who speaks in a note, read from Telegram's message (a group member, each kind of
forward's origin), and how the delivered transcript's headings say it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.types import Message

from bot.services.ingest import IncomingAudio
from bot.services.speakers import note_origin
from bot.transcript_texts import build_transcript, telegram_length
from sessions import AudioEntry, Session, Speaker, SpeakerKind, TranscriptionStatus
from tests.fake_telegram import (
    origin_channel,
    origin_chat,
    origin_hidden_user,
    origin_user,
    render_html,
)

GROUP = -100123
START = datetime(2026, 11, 24, 19, 47, 41, tzinfo=UTC)


def message(
    *,
    chat_type: str = "supergroup",
    sender: dict[str, Any] | None = None,
    **content: Any,
) -> Message:
    """A voice note as Telegram sends it, in a group unless told otherwise."""
    chat_id = GROUP if chat_type != "private" else 7
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type, "title": "Team"}
    if chat_type == "private":
        chat = {"id": chat_id, "type": "private", "first_name": "Anna"}
    raw: dict[str, Any] = {
        "message_id": 5,
        "date": 1_700_000_000,
        "chat": chat,
        "from": sender or {"id": 7, "is_bot": False, "first_name": "Anna", "last_name": "Smith"},
        "voice": {"file_id": "f", "file_unique_id": "u", "duration": 3},
        **content,
    }
    return Message.model_validate(raw)


def test_group_member_is_the_speaker() -> None:
    origin = note_origin(message())
    assert origin.forwarded is False
    assert origin.speaker == Speaker(name="Anna Smith", kind=SpeakerKind.USER, user_id=7)
    # In a private chat too: the person who sent it.
    private = note_origin(message(chat_type="private"))
    assert private.speaker is not None
    assert (private.speaker.name, private.speaker.user_id) == ("Anna Smith", 7)
    # Someone without a name Telegram shows (an empty first name) is named by their username.
    nameless = {"id": 8, "is_bot": False, "first_name": " ", "username": "ben_k"}
    speaker = note_origin(message(sender=nameless)).speaker
    assert speaker is not None
    assert speaker.name == "@ben_k"


def test_forward_from_a_user_names_the_original_sender() -> None:
    origin = note_origin(message(forward_origin=origin_user(42, "Ben", "Miller")))
    assert origin.forwarded is True
    assert origin.speaker == Speaker(name="Ben Miller", kind=SpeakerKind.USER, user_id=42)


def test_forward_from_a_hidden_user_keeps_the_name_only() -> None:
    origin = note_origin(message(forward_origin=origin_hidden_user("Carol <3")))
    assert origin.forwarded is True
    assert origin.speaker == Speaker(name="Carol <3", kind=SpeakerKind.HIDDEN_USER)


def test_forward_from_a_chat_names_the_chat_and_its_signature() -> None:
    origin = note_origin(message(forward_origin=origin_chat(-100777, "Book club", "Dana")))
    assert origin.forwarded is True
    assert origin.speaker == Speaker(
        name="Book club", kind=SpeakerKind.CHAT, chat_id=-100777, signature="Dana"
    )
    unsigned = note_origin(message(forward_origin=origin_chat(-100777, "Book club"))).speaker
    assert unsigned is not None
    assert unsigned.signature is None


def test_forward_from_a_channel_names_the_channel_and_its_signature() -> None:
    origin = note_origin(message(forward_origin=origin_channel(-100900, "Daily News", 17, "Eve")))
    assert origin.forwarded is True
    assert origin.speaker == Speaker(
        name="Daily News", kind=SpeakerKind.CHANNEL, chat_id=-100900, signature="Eve"
    )


def test_a_group_speaking_as_itself_is_the_speaker() -> None:
    """An anonymous admin, or a linked channel's post in its group: the chat speaks."""
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    group = {"id": GROUP, "type": "supergroup", "title": "Team"}
    origin = note_origin(message(sender=anonymous, sender_chat=group, author_signature="Boss"))
    assert origin.speaker == Speaker(
        name="Team", kind=SpeakerKind.CHAT, chat_id=GROUP, signature="Boss"
    )
    channel = {"id": -100900, "type": "channel", "title": "Daily News"}
    speaker = note_origin(message(sender=anonymous, sender_chat=channel)).speaker
    assert speaker is not None
    assert (speaker.kind, speaker.name) == (SpeakerKind.CHANNEL, "Daily News")


def test_incoming_audio_carries_its_origin_and_file_name() -> None:
    forwarded = message(forward_origin=origin_user(42, "Ben"))
    audio = IncomingAudio.from_message(forwarded)
    assert audio is not None
    assert audio.origin == note_origin(forwarded)
    document = message(
        voice=None,
        document={"file_id": "d", "file_unique_id": "du", "file_name": "meeting.m4a"},
    )
    taken = IncomingAudio.from_message(document)
    assert taken is not None
    assert (taken.kind, taken.file_name, taken.origin.forwarded) == (
        "document",
        "meeting.m4a",
        False,
    )


# -- the transcript's headings -------------------------------------------------------------


def entry(
    sequence: int,
    speaker: Speaker | None,
    *,
    forwarded: bool = False,
    kind: str = "voice",
    original_filename: str | None = None,
) -> AudioEntry:
    return AudioEntry(
        sequence=sequence,
        filename=f"{sequence:03d}_audio.ogg",
        duration_seconds=42,
        received_at=START + timedelta(minutes=sequence),
        transcription_status=TranscriptionStatus.COMPLETED,
        kind=kind,
        original_filename=original_filename,
        speaker=speaker,
        forwarded=forwarded,
    )


def session(*entries: AudioEntry, chat_id: int = GROUP) -> Session:
    return Session(
        session_id="2026-11-24_19-47-41",
        chat_id=chat_id,
        created_at=START,
        audio_entries=[*entries],
    )


ANNA = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
BEN = Speaker(name="Ben <b>&</b>", kind=SpeakerKind.USER, user_id=8)


def headings(built_messages: list[str]) -> list[str]:
    text = "\n\n".join(render_html(m) for m in built_messages)
    return [line for line in text.split("\n") if line.startswith("Note ")]


def test_group_transcript_labels_each_note_escaped() -> None:
    channel = Speaker(name="Daily News", kind=SpeakerKind.CHANNEL, chat_id=-100900)
    notes = session(
        entry(1, ANNA),
        entry(2, BEN),
        entry(3, channel, forwarded=True),
        entry(4, ANNA, kind="document", original_filename="meeting.m4a"),
    )
    built = build_transcript(notes, {1: "one", 2: "two", 3: "three", 4: "four"}, UTC)
    assert headings(built.messages) == [
        "Note 1 · 19:48 · 0:42 · Anna",
        "Note 2 · 19:49 · 0:42 · Ben <b>&</b>",
        "Note 3 · 19:50 · 0:42 · forwarded from Daily News",
        "Note 4 · 19:51 · 0:42 · meeting.m4a · Anna",
    ]
    assert "Ben &lt;b&gt;&amp;&lt;/b&gt;" in built.messages[0]  # sent escaped
    assert "\nNote 2 · 19:49 · 0:42 · Ben <b>&</b>\ntwo\n" in built.plain


def test_one_persons_notes_read_as_before() -> None:
    """A private chat of one person's own notes: no names, exactly the transcript of notes
    that record no speaker at all."""
    mine = session(entry(1, ANNA), entry(2, ANNA))
    anonymous = session(entry(1, None), entry(2, None))
    texts = {1: "one", 2: "two"}
    built = build_transcript(mine, texts, UTC)
    assert built == build_transcript(anonymous, texts, UTC)
    assert headings(built.messages) == ["Note 1 · 19:48 · 0:42", "Note 2 · 19:49 · 0:42"]


def test_a_forwarded_note_labels_one_persons_notes_in_a_group() -> None:
    hidden = Speaker(name="Carol", kind=SpeakerKind.HIDDEN_USER)
    built = build_transcript(
        session(entry(1, ANNA), entry(2, hidden, forwarded=True, kind="video_note")),
        {1: "one", 2: "two"},
        UTC,
    )
    assert headings(built.messages) == [
        "Note 1 · 19:48 · 0:42 · Anna",
        "Note 2 · 19:49 · 0:42 · round video · forwarded from Carol",
    ]


def test_a_private_chat_names_only_where_a_forward_came_from() -> None:
    """The owner's own notes in their private chat carry no name, even beside a forward."""
    hidden = Speaker(name="Carol", kind=SpeakerKind.HIDDEN_USER)
    notes = (entry(1, ANNA), entry(2, hidden, forwarded=True, kind="video_note"))
    built = build_transcript(session(*notes, chat_id=7), {1: "one", 2: "two"}, UTC)
    assert headings(built.messages) == [
        "Note 1 · 19:48 · 0:42",
        "Note 2 · 19:49 · 0:42 · round video · forwarded from Carol",
    ]


def test_long_names_keep_every_message_within_telegrams_limit() -> None:
    long = Speaker(name="N" * 128, kind=SpeakerKind.CHANNEL, chat_id=-1, signature="S" * 128)
    entries = [
        entry(n, long, forwarded=True, kind="document", original_filename="F" * 250 + ".wav")
        for n in range(1, 4)
    ]
    said = "A sentence that goes on. " * 400
    built = build_transcript(session(*entries), dict.fromkeys(range(1, 4), said), UTC)
    assert all(telegram_length(m) <= 4096 for m in built.messages)
    assert all(len(h) < 200 for h in headings(built.messages))
