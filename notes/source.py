"""What a note is written from: the session's transcript as ``process/input.txt`` holds it
(speaker labels and all, written by the transcription stage), its language and speakers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from notes.prompting import Context
from sessions import SessionFolder
from sessions.chat_settings import AUTO_LANGUAGE, ChatSettings
from sessions.models import Session, SessionState, TranscriptionStatus
from sessions.speakers import labelled_line, speaker_labels
from sessions.turns import note_turns, turn_label

# The states in which a session has its whole transcript.
TRANSCRIBED_STATES = frozenset(
    {SessionState.TRANSCRIBED, SessionState.PROCESSING, SessionState.PROCESSED}
)


@dataclass(frozen=True)
class Source:
    transcript: str
    context: Context


def has_transcript(session: Session) -> bool:
    return session.state in TRANSCRIBED_STATES


async def read_source(folder: SessionFolder, session: Session, chat: ChatSettings) -> Source | None:
    """The transcript and what the prompt says of it; None when there is no transcript."""
    return await asyncio.to_thread(_read, folder, session, chat)


def _read(folder: SessionFolder, session: Session, chat: ChatSettings) -> Source | None:
    text = folder.read_process_input()
    if text is None or not text.strip():
        return None
    language = chat.language if chat.language not in (None, AUTO_LANGUAGE) else None
    context = Context(
        language=language or _spoken(folder, session),
        speakers=_speakers(session),
        voices=_voices(folder, session),
    )
    return Source(transcript=text, context=context)


def _spoken(folder: SessionFolder, session: Session) -> str | None:
    """The language most of the session was spoken in (by duration), as Whisper found it."""
    seconds: dict[str, float] = {}
    for entry in session.audio_entries:
        if entry.transcription_status is not TranscriptionStatus.COMPLETED:
            continue
        detail = folder.read_transcript(entry.sequence)
        if detail is not None and detail.language:
            seconds[detail.language] = seconds.get(detail.language, 0.0) + max(
                detail.duration_seconds, 0.1
            )
    return max(seconds, key=lambda code: seconds[code]) if seconds else None


def _speakers(session: Session) -> list[str]:
    """The speakers as the transcript names them ("Anna", "Forwarded from Ben"), in order."""
    names: list[str] = []
    for label in speaker_labels(session).values():
        name = labelled_line(label, "").removesuffix(": ")
        if name not in names:
            names.append(name)
    return names


def _voices(folder: SessionFolder, session: Session) -> list[str]:
    """The voices inside the session's recordings as its turns name them ("Speaker 1", or
    the name the chat gave), in order of first turn; empty when no note reads in turns."""
    names: list[str] = []
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        if entry.transcription_status is not TranscriptionStatus.COMPLETED:
            continue
        detail = folder.read_transcript(entry.sequence)
        for turn in note_turns(session, entry.sequence, detail) or []:
            name = turn_label(session, turn.number)
            if name not in names:
                names.append(name)
    return names


__all__ = ["TRANSCRIBED_STATES", "Source", "has_transcript", "read_source"]
