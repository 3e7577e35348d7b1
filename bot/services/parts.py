"""What a session's delivery is made of: the transcript's messages (HTML, each note in its
place, failed ones with their reason) and file, and the processor's files (or its failure),
as :class:`~bot.services.delivery.Part`.

Shared by the notifier (the first delivery, recorded part by part) and ``/get`` (the same
parts sent again on request), so a transcript looks the same both times.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo

import structlog

from bot import texts
from bot.callbacks import note_keyboard
from bot.services.delivery import UPLOAD_LIMIT_BYTES, Part
from bot.speaker_texts import speaker_word
from bot.transcript_texts import build_transcript
from sessions import Session, SessionFolder, SessionManager, SessionState, TranscriptionStatus
from sessions.turns import note_text

_log = structlog.get_logger("bot.delivery")

# Keys of delivery parts (recorded in metadata's delivery.sent) start with one of these.
TRANSCRIPT = "transcript"
OUTPUTS = "outputs"
CANCELLED = "cancelled"  # the ErrorEntry code of a session discarded with /cancel


def processing_ended(session: Session) -> bool:
    """Whether the processing stage is over for ``session`` (done, or failed)."""
    if session.state is SessionState.PROCESSED:
        return True
    return session.state is SessionState.ERROR and any(
        e.code == "processor_failed" for e in session.errors
    )


def was_cancelled(session: Session) -> bool:
    """Whether the chat discarded the session (/cancel): nothing is delivered for it."""
    return any(e.code == CANCELLED for e in session.errors)


async def transcript_parts(
    manager: SessionManager, session: Session, zone: tzinfo = UTC, *, note_buttons: bool = False
) -> list[Part]:
    """The transcript's messages (HTML: a header, then each note in its place, the failed
    ones with their reason), and its ``.txt`` when it takes more than one message. With
    ``note_buttons`` (a language model is set up), Summary / Clean text / To-dos under its
    last message."""
    folder = manager.folder(session.session_id)
    word = speaker_word()  # in the chat's language, before leaving this task's context
    texts_by_note = await asyncio.to_thread(_note_texts, folder, session)
    bodies = await asyncio.to_thread(_in_turns, folder, session, texts_by_note, word)
    transcript = build_transcript(session, texts_by_note, zone, bodies=bodies)
    last = len(transcript.messages)
    keyboard = note_keyboard(session.session_id) if note_buttons else None
    parts = [
        Part(f"{TRANSCRIPT}/{n}", text=m, html=True, keyboard=keyboard if n == last else None)
        for n, m in enumerate(transcript.messages, start=1)
    ]
    if len(transcript.messages) > 1:
        name = f"transcript_{session.session_id}.txt"
        caption = texts.transcript_file_caption(len(session.audio_entries))
        data = transcript.plain.encode()
        parts.append(Part(f"{TRANSCRIPT}/file", data=data, filename=name, caption=caption))
    return parts


def _in_turns(
    folder: SessionFolder, session: Session, found: dict[int, str | None], word: str
) -> dict[int, str | None]:
    """The notes' texts as they are shown: in speaker turns ("Speaker 1: ...", ``word`` for
    an unnamed voice) where a note has several voices (blocking: reads the disk)."""
    return {
        sequence: note_text(session, sequence, folder.read_transcript(sequence), text, word)
        if text
        else text
        for sequence, text in found.items()
    }


def _note_texts(folder: SessionFolder, session: Session) -> dict[int, str | None]:
    """Each finished note's transcript text, by sequence (blocking: reads the disk)."""
    found: dict[int, str | None] = {}
    for entry in session.audio_entries:
        if entry.transcription_status is TranscriptionStatus.COMPLETED:
            text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
            if text is None:  # a TRANSCRIBED session has it; never block on its loss
                _log.warning(
                    "note_transcript_missing",
                    session_id=session.session_id,
                    sequence=entry.sequence,
                )
            found[entry.sequence] = text
    return found


async def output_parts(manager: SessionManager, session: Session) -> list[Part]:
    """The processor's files (a note for those too big to send), or its failure."""
    if session.state is not SessionState.PROCESSED:
        failure = next((e for e in reversed(session.errors) if e.code == "processor_failed"), None)
        reason = failure.message if failure else "unknown error"
        text = texts.processing_failed(reason, session.session_id)
        return [Part(f"{OUTPUTS}/failed", text=text)]
    folder = manager.folder(session.session_id)
    listing = await asyncio.to_thread(folder.list_outputs)
    parts = []
    for name, size in listing.files:
        key = f"{OUTPUTS}/{name}"
        if size > UPLOAD_LIMIT_BYTES:
            parts.append(Part(key, text=texts.output_too_big(name, size, UPLOAD_LIMIT_BYTES)))
        else:
            parts.append(Part(key, output=name))
    if listing.empty or listing.not_files:
        _log.warning(
            "outputs_not_sent",
            session_id=session.session_id,
            empty=listing.empty,
            not_files=listing.not_files,
        )
        text = texts.outputs_not_sent(listing.empty, listing.not_files)
        parts.append(Part(f"{OUTPUTS}/not-sent", text=text))
    return parts or [Part(f"{OUTPUTS}/none", text=texts.PROCESSED_NO_FILES)]


async def resend_parts(
    manager: SessionManager, session: Session, zone: tzinfo = UTC, *, note_buttons: bool = False
) -> list[Part]:
    """Everything of a finished session's delivery, for sending it again (``/get``): its
    transcript (or why there is none), then its processor's outcome if processing ended."""
    if session.transcribed_at is None:
        return [Part(f"{TRANSCRIPT}/failed", text=texts.session_failed(session))]
    parts = await transcript_parts(manager, session, zone, note_buttons=note_buttons)
    if processing_ended(session):
        parts += await output_parts(manager, session)
    return parts
