"""Sessions brought to TRANSCRIBED the way the transcription stage does it, on real files."""

from __future__ import annotations

import asyncio

from sessions import (
    FileSessionManager,
    Session,
    SessionState,
    Transcript,
    TranscriptionStatus,
)
from tests.conftest import add_note


async def transcribed(
    manager: FileSessionManager, chat_id: int = 1, texts: list[str] | None = None
) -> Session:
    """A session with one note per text (default: two), each transcribed to that text."""
    texts = texts if texts is not None else ["words of note 1", "words of note 2"]
    session = await manager.create_session(chat_id)
    for _ in texts:
        session = await add_note(manager, session)
    sid = session.session_id
    await manager.finalize_session(sid)
    folder = manager.folder(sid)
    for entry, text in zip(session.audio_entries, texts, strict=True):
        transcript = Transcript(text=text)
        name = await asyncio.to_thread(folder.write_transcript, entry.sequence, transcript)
        await manager.update_transcription_status(
            sid, entry.sequence, TranscriptionStatus.COMPLETED, name
        )
    return await manager.transition_state(sid, SessionState.TRANSCRIBED)
