"""Which documents are recordings: by MIME type, or by the file name's extension."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import Message

from bot.services.ingest import IncomingAudio, is_audio_file


@pytest.mark.parametrize(
    ("file_name", "mime_type"),
    [
        ("memo.wav", "audio/x-wav"),
        ("memo.m4a", "audio/mp4"),
        ("memo.m4a", "application/octet-stream"),  # a client that did not know the type
        ("MEMO.MP3", None),
        ("voice.ogg", None),
        ("voice.oga", None),
        ("voice.opus", None),
        ("take.flac", None),
        ("take.aac", None),
        ("call.amr", None),
        ("call.wma", None),
        ("talk.mp4", None),
        ("talk.webm", None),
        ("talk.mov", None),
        ("talk.mkv", None),
        ("no extension", "audio/ogg"),
        ("no extension", "audio/mpeg; charset=binary"),
        ("clip", "video/quicktime"),
        ("clip", "video/webm"),
        (None, "audio/flac"),
    ],
)
def test_recordings_are_recognised(file_name: str | None, mime_type: str | None) -> None:
    assert is_audio_file(file_name, mime_type)


@pytest.mark.parametrize(
    ("file_name", "mime_type"),
    [
        ("report.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("notes.txt", None),
        ("photo.jpg", "image/jpeg"),
        ("archive", None),
        (None, None),
        ("mp3", None),  # a name that is only the word, not an extension
        ("song.mp3.exe", "application/x-msdownload"),
        ("image.gif", "video/gif-ish"),
    ],
)
def test_other_files_are_not(file_name: str | None, mime_type: str | None) -> None:
    assert not is_audio_file(file_name, mime_type)


def _document_message(**document: Any) -> Message:
    return Message.model_validate(
        {
            "message_id": 5,
            "date": 0,
            "chat": {"id": 1, "type": "private"},
            "document": {"file_id": "F", "file_unique_id": "U", **document},
        }
    )


@pytest.mark.parametrize(
    ("document", "extension"),
    [
        ({"file_name": "Memo.M4A", "mime_type": "audio/mp4"}, ".m4a"),
        ({"file_name": "a.wav"}, ".wav"),
        ({"file_name": "a.oga", "mime_type": "audio/ogg"}, ".ogg"),
        ({"mime_type": "audio/mpeg"}, ".mp3"),
        ({"file_name": "recording", "mime_type": "audio/ogg"}, ".ogg"),
    ],
)
def test_a_recording_file_is_audio_keeping_its_extension(
    document: dict[str, Any], extension: str
) -> None:
    audio = IncomingAudio.from_message(_document_message(file_size=1234, **document))
    assert audio is not None
    assert (audio.kind, audio.extension, audio.file_size) == ("document", extension, 1234)
    assert audio.duration_seconds == 0  # not declared: measured after download
    assert audio.file_name == document.get("file_name")


def test_a_document_that_is_not_a_recording_is_no_audio() -> None:
    message = _document_message(file_name="report.pdf", mime_type="application/pdf")
    assert IncomingAudio.from_message(message) is None
