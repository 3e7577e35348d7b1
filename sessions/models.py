"""The session data model, persisted as ``metadata.json``.

The JSON keys ``session_id``, ``chat_id``, ``state``, ``created_at``, ``audio_entries``
(with ``sequence``, ``filename``, ``transcription_status``, ``transcript_filename``) and
``errors`` are read by other tools: rename none of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class SessionState(StrEnum):
    """Lifecycle of a session; values are the names, as stored in metadata.json."""

    COLLECTING = "COLLECTING"
    TRANSCRIBING = "TRANSCRIBING"
    TRANSCRIBED = "TRANSCRIBED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    ERROR = "ERROR"


class TranscriptionStatus(StrEnum):
    """Progress of one audio entry through transcription."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class _Model(BaseModel):
    # Unknown keys survive a load/save round trip, so a newer writer's extra fields are
    # not silently dropped by an older reader.
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class SpeakerKind(StrEnum):
    """Who a :class:`Speaker` is, as Telegram tells it."""

    USER = "user"  # a Telegram user: the member who sent the note, or a forward's sender
    HIDDEN_USER = "hidden_user"  # a forward from someone who hides their account: a name only
    CHAT = "chat"  # a group speaking as itself (an anonymous admin), or a forward from one
    CHANNEL = "channel"  # a channel: a forward of its post, or a post in its linked group


class Speaker(_Model):
    """Whose voice a note is: its sender, or for a forwarded note the original sender.

    ``name`` is what people read (a user's full name, a chat's or channel's title);
    ``user_id`` or ``chat_id`` tells two people of the same name apart, and ``signature``
    is the author signature a channel or an anonymous admin adds to a post.
    """

    name: str = Field(description="the user's full name, or the chat's or channel's title")
    kind: SpeakerKind = Field(description="user, hidden_user, chat or channel")
    user_id: int | None = Field(default=None, description="Telegram user id (kind user)")
    chat_id: int | None = Field(default=None, description="chat id (kind chat or channel)")
    signature: str | None = Field(default=None, description="the post's author signature")


class AudioEntry(_Model):
    """One recorded voice note (or audio file, or video note) of a session.

    Where the note came from (``kind``, ``original_filename``, ``speaker``, ``forwarded``)
    is recorded for notes taken from Telegram; an entry written before these fields existed,
    or by another tool, leaves them unset and reads as an unlabelled note of its chat.
    """

    sequence: int = Field(ge=1, description="1-based position in the session, in arrival order")
    filename: str = Field(min_length=1, description="file name inside the session's audio/")
    duration_seconds: float = Field(ge=0)
    message_id: int | None = None
    file_id: str | None = None
    file_unique_id: str | None = None
    mime_type: str | None = None
    file_size: int | None = Field(default=None, ge=0)
    received_at: AwareDatetime = Field(default_factory=utc_now)
    transcription_status: TranscriptionStatus = TranscriptionStatus.PENDING
    transcript_filename: str | None = None
    error: str | None = None
    kind: str | None = Field(
        default=None,
        description="the Telegram message it came in: voice, audio, video_note or document",
    )
    original_filename: str | None = Field(
        default=None, description="an audio file's own name, as sent (audio or document)"
    )
    speaker: Speaker | None = Field(
        default=None,
        description="who speaks: the sender, or a forwarded note's original sender",
    )
    forwarded: bool = Field(default=False, description="the note was forwarded from elsewhere")

    def same_note(self, other: AudioEntry) -> bool:
        """Whether ``other`` is this very note, not another given its number after an undo
        (the same file, Telegram message and arrival time)."""
        return (self.filename, self.message_id, self.received_at) == (
            other.filename,
            other.message_id,
            other.received_at,
        )


class ErrorEntry(_Model):
    """Something that went wrong in a session, kept in its metadata for the user to see."""

    message: str
    code: str = "error"
    sequence: int | None = None
    timestamp: AwareDatetime = Field(default_factory=utc_now)
    details: dict[str, Any] = Field(default_factory=dict)


class DeliveryProgress(_Model):
    """Which parts of a session's delivery reached its chat, so a restart sends only the rest.

    A part is one message or file, named by a key such as ``transcript/2`` or
    ``outputs/session.md``. ``refused`` holds the parts Telegram refused for good (a 400),
    with its reason: they are not tried again.
    """

    sent: list[str] = Field(default_factory=list)
    refused: dict[str, str] = Field(default_factory=dict)

    def done(self, part: str) -> bool:
        """Whether ``part`` arrived or was refused for good."""
        return part in self.refused or part in self.sent


class Session(_Model):
    """A chat's collection of audio entries and where it stands in the pipeline."""

    schema_version: int = SCHEMA_VERSION
    session_id: str
    chat_id: int
    state: SessionState = SessionState.COLLECTING
    created_at: AwareDatetime = Field(default_factory=utc_now)
    updated_at: AwareDatetime = Field(default_factory=utc_now)
    finalized_at: AwareDatetime | None = None
    transcribed_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    outputs_delivered_at: AwareDatetime | None = None
    # When the audio files were deleted (by a user or by retention); the transcripts stay.
    audio_removed_at: AwareDatetime | None = None
    audio_entries: list[AudioEntry] = Field(default_factory=list)
    errors: list[ErrorEntry] = Field(default_factory=list)
    next_sequence: int = Field(default=1, ge=1)
    # Telegram message id -> the sequence number handed out for it, so a redelivered
    # message gets the same place in the session even if it arrives after a crash.
    reserved_sequences: dict[int, int] = Field(default_factory=dict)
    # Set when the session is finalized while a processor is on: the processing stage owes it
    # a run, whatever happened to its delivery; cleared when it reaches PROCESSED or ERROR.
    processing_due: bool = False
    delivery: DeliveryProgress = Field(default_factory=DeliveryProgress)
    # Speaker turns inside recordings (diarization): each diarized note's local speakers as
    # session-wide numbers ("3": [1, 2]: note 3's first voice is speaker 1, its second 2),
    # set when the session's transcript is consolidated; and the names the chat gave them
    # ("1": "Anna", by ``/speakers 1 Anna``). Both optional: older files read without them.
    speaker_numbers: dict[str, list[int]] | None = None
    speaker_names: dict[str, str] | None = None

    @property
    def total_duration_seconds(self) -> float:
        """Sum of the durations of all recorded entries."""
        return sum(entry.duration_seconds for entry in self.audio_entries)

    def entry(self, sequence: int) -> AudioEntry | None:
        """The entry with this sequence number, if any."""
        return next((e for e in self.audio_entries if e.sequence == sequence), None)

    def entry_for_message(self, message_id: int) -> AudioEntry | None:
        """The entry recorded for this Telegram message, if any."""
        return next((e for e in self.audio_entries if e.message_id == message_id), None)
