"""The unit of work that moves a session from TRANSCRIBING to TRANSCRIBED.

:func:`transcribe_entry` (one entry of one session, by ids) is a plain async function over
the session manager and a :class:`~transcription.engine.Transcriber`, which may run the
model in this process or on another machine. :func:`finish_session` consolidates once
every entry is done. Both are safe to repeat: finished work is never redone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from sessions import (
    ErrorEntry,
    FileSessionManager,
    InvalidStateError,
    Session,
    SessionState,
    TranscriptionStatus,
)
from sessions.layout import AUDIO_DIR, PROCESS_INPUT, TRANSCRIPTS_DIR, transcript_filename
from sessions.storage import dump_json_atomic, write_atomic
from transcription.engine import (
    AudioDecodeError,
    TimedTranscriber,
    Transcriber,
    TranscriptResult,
)
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.pipeline")

_DONE = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)


def _transcript_present(session_dir: Path, filename: str | None) -> bool:
    return filename is not None and (session_dir / TRANSCRIPTS_DIR / filename).is_file()


def needs_work(session_dir: Path, session: Session, sequence: int) -> bool:
    """Whether an entry still has to be transcribed (blocking: checks the transcript file)."""
    entry = session.entry(sequence)
    if entry is None or entry.transcription_status is TranscriptionStatus.FAILED:
        return False
    if entry.transcription_status is TranscriptionStatus.COMPLETED:
        return not _transcript_present(session_dir, entry.transcript_filename)
    return True  # PENDING, or IN_PROGRESS left behind by a crash


async def _fail_entry(
    manager: FileSessionManager, session_id: str, sequence: int, code: str, message: str
) -> TranscriptionStatus:
    await manager.update_transcription_status(
        session_id, sequence, TranscriptionStatus.FAILED, error=message
    )
    await manager.add_error(session_id, ErrorEntry(message=message, code=code, sequence=sequence))
    return TranscriptionStatus.FAILED


def _write_transcript(session_dir: Path, sequence: int, result: TranscriptResult) -> str:
    folder = session_dir / TRANSCRIPTS_DIR
    text_name = transcript_filename(sequence)
    dump_json_atomic(
        folder / transcript_filename(sequence, ".json"),
        {"sequence": sequence, **result.model_dump(mode="json")},
    )
    # The .txt is written last: its presence is what marks the entry as done on resume.
    text = (result.text + "\n").encode("utf-8") if result.text else b""
    write_atomic(folder / text_name, text)
    return text_name


async def transcribe_entry(
    manager: FileSessionManager,
    transcriber: Transcriber,
    session_id: str,
    sequence: int,
    settings: TranscriptionSettings,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> TranscriptionStatus:
    """Transcribe one entry and record the outcome; returns the entry's final status.

    Safe to call again for the same entry (after a crash, or twice): finished entries are
    left alone. Undecodable audio fails at once. A run longer than the timeout scaled to
    the audio's duration is stopped; it and other errors are retried
    (``TRANSCRIPTION_RETRIES``, backoff doubling from ``TRANSCRIPTION_RETRY_BACKOFF_SECONDS``)
    before the entry fails. Time spent waiting for a free worker is not part of the timeout.
    """
    session = await manager.require_session(session_id)
    session_dir = manager.get_session_path(session_id)
    entry = session.entry(sequence)
    if entry is None:
        raise InvalidStateError(f"session {session_id} has no entry {sequence}")
    if not await asyncio.to_thread(needs_work, session_dir, session, sequence):
        return entry.transcription_status
    log = _log.bind(session_id=session_id, sequence=sequence)
    await manager.update_transcription_status(session_id, sequence, TranscriptionStatus.IN_PROGRESS)

    audio_path = session_dir / AUDIO_DIR / entry.filename
    timeout = settings.timeout_for(entry.duration_seconds)
    attempts = settings.transcription_retries + 1
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            if not await asyncio.to_thread(audio_path.is_file):
                raise AudioDecodeError(f"audio file missing: {AUDIO_DIR}/{entry.filename}")
            result = await _run_timed(transcriber, audio_path, timeout)
        except AudioDecodeError as exc:
            log.warning("entry_undecodable", error=str(exc))
            return await _fail_entry(manager, session_id, sequence, "decode_failed", str(exc))
        except TimeoutError:
            log.warning("entry_timeout", timeout_seconds=timeout, attempt=attempt)
            if attempt >= attempts:
                message = (
                    f"transcription took longer than {timeout:.0f} s and was stopped "
                    f"({attempts} attempts)"
                )
                return await _fail_entry(manager, session_id, sequence, "timeout", message)
            delay = settings.transcription_retry_backoff_seconds * 2 ** (attempt - 1)
            await sleep(delay)
            continue
        except Exception as exc:
            if attempt >= attempts:
                message = f"transcription failed after {attempts} attempts: {exc}"
                log.exception("entry_failed", attempts=attempts)
                return await _fail_entry(
                    manager, session_id, sequence, "transcription_failed", message
                )
            delay = settings.transcription_retry_backoff_seconds * 2 ** (attempt - 1)
            log.warning("entry_retry", attempt=attempt, delay_seconds=delay, error=repr(exc))
            await sleep(delay)
            continue
        name = await asyncio.to_thread(_write_transcript, session_dir, sequence, result)
        await manager.update_transcription_status(
            session_id, sequence, TranscriptionStatus.COMPLETED, name
        )
        log.info(
            "entry_transcribed",
            audio_seconds=round(result.duration_seconds, 2),
            seconds=round(time.perf_counter() - started, 2),
            language=result.language,
            chars=len(result.text),
        )
        return TranscriptionStatus.COMPLETED
    raise AssertionError("unreachable")  # pragma: no cover


async def _run_timed(
    transcriber: Transcriber, audio_path: Path, run_timeout: float
) -> TranscriptResult:
    # A transcriber that knows when the run starts (a worker took the job, a thread became
    # free) times only the run; for any other, the whole call is timed.
    if isinstance(transcriber, TimedTranscriber):
        return await transcriber.transcribe_timed(audio_path, run_timeout)
    return await asyncio.wait_for(transcriber.transcribe(audio_path), run_timeout)


def consolidate(session_dir: Path, session: Session) -> str:
    """The session's transcript: one paragraph per completed entry, in sequence order."""
    paragraphs = []
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        if entry.transcription_status is not TranscriptionStatus.COMPLETED:
            continue
        if entry.transcript_filename is None:
            continue
        path = session_dir / TRANSCRIPTS_DIR / entry.transcript_filename
        text = path.read_text(encoding="utf-8").strip()  # whatever the locale says
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")


async def finish_session(manager: FileSessionManager, session_id: str) -> Session:
    """TRANSCRIBING -> TRANSCRIBED (or ERROR) once every entry is COMPLETED or FAILED.

    Writes ``process/input.txt`` first, so a TRANSCRIBED session always has it. Returns the
    session unchanged if work remains or it has already moved on.
    """
    session = await manager.require_session(session_id)
    if session.state is not SessionState.TRANSCRIBING:
        return session
    if any(e.transcription_status not in _DONE for e in session.audio_entries):
        return session
    entries = session.audio_entries
    if entries and all(e.transcription_status is TranscriptionStatus.FAILED for e in entries):
        await manager.add_error(
            session_id,
            ErrorEntry(message="no voice note could be transcribed", code="all_entries_failed"),
        )
        return await _transition_once(manager, session_id, SessionState.ERROR)
    session_dir = manager.get_session_path(session_id)

    def write_input() -> None:
        write_atomic(session_dir / PROCESS_INPUT, consolidate(session_dir, session).encode("utf-8"))

    try:
        await asyncio.to_thread(write_input)
    except OSError as exc:
        await manager.add_error(
            session_id, ErrorEntry(message=f"cannot write {PROCESS_INPUT}: {exc}", code="storage")
        )
        return await _transition_once(manager, session_id, SessionState.ERROR)
    return await _transition_once(manager, session_id, SessionState.TRANSCRIBED)


async def _transition_once(
    manager: FileSessionManager, session_id: str, state: SessionState
) -> Session:
    # Another process (or a racing task) may have finished the session first: that is fine.
    try:
        return await manager.transition_state(session_id, state)
    except InvalidStateError:
        return await manager.require_session(session_id)


async def transcribe_session(
    manager: FileSessionManager,
    transcriber: Transcriber,
    session_id: str,
    settings: TranscriptionSettings,
    *,
    limit: asyncio.Semaphore | None = None,
) -> Session:
    """Every entry still to do, then :func:`finish_session`.

    Entries start in sequence order; up to ``TRANSCRIPTION_CONCURRENCY`` run at once (or
    as many as ``limit`` allows, a semaphore shared between sessions).
    """
    session = await manager.require_session(session_id)
    if session.state is not SessionState.TRANSCRIBING:
        return session
    slots = limit or asyncio.Semaphore(settings.transcription_concurrency)

    async def one(sequence: int) -> None:
        async with slots:  # FIFO: entries start in sequence order
            await transcribe_entry(manager, transcriber, session_id, sequence, settings)

    entries = sorted(session.audio_entries, key=lambda e: e.sequence)
    outcomes = await asyncio.gather(*(one(e.sequence) for e in entries), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return await finish_session(manager, session_id)
