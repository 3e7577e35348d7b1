"""Who said what: when notes are labelled with their speakers, what a label reads, what a
note's source reads, and that metadata written before speakers were recorded still loads."""

from __future__ import annotations

import json

from sessions import AudioEntry, FileSessionStorage, Session, Speaker, SpeakerKind
from sessions.speakers import (
    SHOWN_NAME_LIMIT,
    labelled_line,
    needs_labels,
    note_source,
    speaker_label,
    speaker_labels,
)

ANNA = Speaker(name="Anna Smith", kind=SpeakerKind.USER, user_id=11)
BEN = Speaker(name="Ben", kind=SpeakerKind.USER, user_id=22)
CHANNEL = Speaker(name="Daily News", kind=SpeakerKind.CHANNEL, chat_id=-100500)


def note(
    sequence: int,
    speaker: Speaker | None = None,
    *,
    forwarded: bool = False,
    kind: str | None = "voice",
    original_filename: str | None = None,
    mime_type: str | None = None,
) -> AudioEntry:
    return AudioEntry(
        sequence=sequence,
        filename=f"{sequence:03d}_audio.ogg",
        duration_seconds=3,
        speaker=speaker,
        forwarded=forwarded,
        kind=kind,
        original_filename=original_filename,
        mime_type=mime_type,
    )


def session(*entries: AudioEntry) -> Session:
    # A group: in a private chat only forwards are named.
    return Session(session_id="2026-11-24_19-47-41", chat_id=-1001, audio_entries=list(entries))


def test_one_speaker_is_not_labelled() -> None:
    assert not needs_labels([note(1, ANNA), note(2, ANNA), note(3, ANNA)])
    assert speaker_labels(session(note(1, ANNA), note(2, ANNA))) == {}
    # Notes that record nobody (older sessions, other tools) are no second speaker.
    assert speaker_labels(session(note(1, ANNA), note(2, None))) == {}
    assert speaker_labels(session(note(1), note(2))) == {}


def test_two_speakers_are_labelled() -> None:
    assert needs_labels([note(1, ANNA), note(2, BEN)])
    assert speaker_labels(session(note(1, ANNA), note(2, BEN), note(3, ANNA))) == {
        1: "Anna Smith",
        2: "Ben",
        3: "Anna Smith",
    }


def test_two_people_of_one_name_are_two_speakers() -> None:
    other_anna = ANNA.model_copy(update={"user_id": 99})
    assert needs_labels([note(1, ANNA), note(2, other_anna)])
    # A hidden user has no id: the name tells them apart.
    hidden = Speaker(name="Carol", kind=SpeakerKind.HIDDEN_USER)
    assert not needs_labels([note(1, hidden), note(2, hidden.model_copy())])


def test_any_forwarded_note_labels_the_session() -> None:
    # One person's own notes and one forwarded from them: still labelled, the forward says so.
    labels = speaker_labels(session(note(1, ANNA), note(2, ANNA, forwarded=True)))
    assert labels == {1: "Anna Smith", 2: "forwarded from Anna Smith"}
    assert speaker_labels(session(note(1, CHANNEL, forwarded=True))) == {
        1: "forwarded from Daily News"
    }
    # Forwarded from an origin nobody can name: the forward is still said.
    assert speaker_labels(session(note(1, ANNA), note(2, None, forwarded=True))) == {
        1: "Anna Smith",
        2: "forwarded",
    }


def test_labels_of_each_kind_of_speaker() -> None:
    signed = CHANNEL.model_copy(update={"signature": "Ben Editor"})
    assert (
        speaker_label(note(1, signed, forwarded=True)) == "forwarded from Daily News (Ben Editor)"
    )
    group = Speaker(name="Book club", kind=SpeakerKind.CHAT, chat_id=-7, signature="Admin")
    assert speaker_label(note(1, group)) == "Book club (Admin)"
    assert speaker_label(note(1, Speaker(name="", kind=SpeakerKind.CHANNEL))) == "a channel"
    hidden = Speaker(name="Carol", kind=SpeakerKind.HIDDEN_USER, signature="ignored")
    assert speaker_label(note(1, hidden, forwarded=True)) == "forwarded from Carol"
    assert speaker_label(note(1, None)) is None


def test_long_names_are_shortened_for_reading_but_kept_whole() -> None:
    long = Speaker(name="A" * 128, kind=SpeakerKind.USER, user_id=5)
    label = speaker_label(note(1, long))
    assert label is not None
    assert len(label) == SHOWN_NAME_LIMIT
    assert label.endswith("…")
    assert long.name == "A" * 128
    assert speaker_label(note(1, Speaker(name="Ann\nSmith", kind="user"))) == "Ann Smith"


def test_labelled_line() -> None:
    assert labelled_line("Anna", "Hello.") == "Anna: Hello."
    assert labelled_line("forwarded from Ben", "Hi.") == "Forwarded from Ben: Hi."
    assert labelled_line(None, "Hello.") == "Hello."


def test_note_source_names_files_and_round_videos_only() -> None:
    assert note_source(note(1, kind="voice")) is None
    assert note_source(note(1, kind="audio", original_filename="talk.mp3")) == "talk.mp3"
    assert note_source(note(1, kind="document", original_filename="memo.m4a")) == "memo.m4a"
    assert note_source(note(1, kind="audio")) == "audio file"
    assert note_source(note(1, kind="video_note", mime_type="video/mp4")) == "round video"
    # A video sent as a file is a file, not a round video.
    clip = note(1, kind="document", original_filename="clip.mp4", mime_type="video/mp4")
    assert note_source(clip) == "clip.mp4"
    # Recorded before the kind was: a video was a round video.
    assert note_source(note(1, kind=None, mime_type="video/mp4")) == "round video"
    assert note_source(note(1, kind=None, mime_type="audio/ogg")) is None


def test_metadata_without_speakers_still_loads(storage: FileSessionStorage) -> None:
    """A metadata.json written before speakers were recorded loads, its notes unlabelled;
    one written now keeps them through a save and a load."""
    old = {
        "schema_version": 1,
        "session_id": "2026-11-24_19-47-41",
        "chat_id": 1,
        "state": "COLLECTING",
        "created_at": "2026-11-24T19:47:41+00:00",
        "audio_entries": [
            {
                "sequence": 1,
                "filename": "001_audio.ogg",
                "duration_seconds": 3.0,
                "received_at": "2026-11-24T19:48:00+00:00",
                "kind": "voice",
            }
        ],
    }
    folder = storage.create_folder_structure(str(old["session_id"]))
    (folder / "metadata.json").write_text(json.dumps(old))
    loaded = storage.load(str(old["session_id"]))
    assert loaded is not None
    [entry] = loaded.audio_entries
    assert (entry.speaker, entry.forwarded, entry.original_filename) == (None, False, None)
    assert entry.kind == "voice"

    entry.speaker = CHANNEL.model_copy(update={"signature": "Ben"})
    entry.forwarded = True
    storage.save(loaded)
    stored = json.loads((folder / "metadata.json").read_text())["audio_entries"][0]
    assert stored["speaker"] == {
        "name": "Daily News",
        "kind": "channel",
        "user_id": None,
        "chat_id": -100500,
        "signature": "Ben",
    }
    assert stored["forwarded"] is True
    again = storage.load(str(old["session_id"]))
    assert again is not None
    assert again.audio_entries[0].speaker == entry.speaker
