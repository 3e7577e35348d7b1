"""What a session's label needs from its folder: the text of its first note with words.

Reads the disk (in a thread); the labels themselves are made by :mod:`bot.session_labels`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.session_labels import first_words_of
from sessions import Session, SessionFolder, SessionManager, TranscriptionStatus

# Notes read at most per session for its first words: a long session of silence is not
# read whole to say so.
_NOTES_READ = 5


def _first_text(folder: SessionFolder, session: Session) -> str | None:
    """The session's first note with words (blocking: reads its transcripts)."""
    texts: list[str | None] = []
    finished = [
        e
        for e in sorted(session.audio_entries, key=lambda e: e.sequence)
        if e.transcription_status is TranscriptionStatus.COMPLETED
    ]
    for entry in finished[:_NOTES_READ]:
        text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
        texts.append(text)
        if text:
            break
    return first_words_of(texts)


async def first_texts(
    manager: SessionManager, sessions: Sequence[Session]
) -> dict[str, str | None]:
    """Each session's first words (see :func:`bot.session_labels.first_words_of`), by id."""
    found = await asyncio.gather(
        *(asyncio.to_thread(_first_text, manager.folder(s.session_id), s) for s in sessions)
    )
    return {s.session_id: text for s, text in zip(sessions, found, strict=True)}
