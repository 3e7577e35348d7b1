"""What a session's delivery is made of: the transcript's messages and file, the notes that
failed, and the processor's files (or its failure), as :class:`~bot.services.delivery.Part`.

Shared by the notifier (the first delivery, recorded part by part) and ``/get`` (the same
parts sent again on request), so a transcript looks the same both times.
"""

from __future__ import annotations

import asyncio

import structlog

from bot import texts
from bot.services.delivery import UPLOAD_LIMIT_BYTES, Part
from sessions import Session, SessionManager, SessionState

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


async def transcript_parts(manager: SessionManager, session: Session) -> list[Part]:
    """The transcript's messages (and its ``.txt`` when it takes more than one message),
    then the notes that failed, in order."""
    folder = manager.folder(session.session_id)
    stored = await asyncio.to_thread(folder.read_process_input)
    if stored is None:  # a TRANSCRIBED session has one; never block on its loss
        _log.warning("transcript_missing", session_id=session.session_id)
    transcript = stored or ""
    chunks = texts.split_message(transcript)
    header = texts.transcript_header(session)
    messages = [texts.EMPTY_TRANSCRIPT] if not chunks else []
    for n, chunk in enumerate(chunks):
        if n > 0:
            messages.append(chunk)
        elif len(header) + 2 + len(chunk) <= texts.MESSAGE_LIMIT:
            messages.append(f"{header}\n\n{chunk}")
        else:  # the header pushes it over: send it alone
            messages += [header, chunk]
    parts = [Part(f"{TRANSCRIPT}/{n}", text=m) for n, m in enumerate(messages, start=1)]
    if len(chunks) > 1:
        name = f"transcript_{session.session_id}.txt"
        parts.append(Part(f"{TRANSCRIPT}/file", data=transcript.encode(), filename=name))
    failed = texts.failed_notes(session)
    parts += [Part(f"{TRANSCRIPT}/failed-notes/{n}", text=m) for n, m in enumerate(failed, start=1)]
    return parts


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


async def resend_parts(manager: SessionManager, session: Session) -> list[Part]:
    """Everything of a finished session's delivery, for sending it again (``/get``): its
    transcript (or why there is none), then its processor's outcome if processing ended."""
    if session.transcribed_at is None:
        return [Part(f"{TRANSCRIPT}/failed", text=texts.session_failed(session))]
    parts = await transcript_parts(manager, session)
    if processing_ended(session):
        parts += await output_parts(manager, session)
    return parts
