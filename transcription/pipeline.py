"""The unit of work that moves a session from TRANSCRIBING to TRANSCRIBED.

:func:`transcribe_entry` (one entry of one session, by ids) is a plain async function over
the session manager and a :class:`~transcription.engine.Transcriber`, which may run the
model in this process or on another machine; it also runs "live", on a note of a session
still COLLECTING. :func:`finish_session` consolidates once every entry is done. Both are
safe to repeat: finished work is never redone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from sessions import (
    AudioEntry,
    EntryNotFoundError,
    ErrorEntry,
    InvalidStateError,
    Session,
    SessionError,
    SessionFolder,
    SessionManager,
    SessionNotFoundError,
    SessionState,
    TranscriptionStatus,
)
from sessions.speakers import labelled_line, speaker_labels
from sessions.turns import note_turns, turns_text
from transcription.engine import (
    AudioDecodeError,
    TimedTranscriber,
    Transcriber,
    TranscriptResult,
)
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.settings import TranscriptionSettings
from transcription.speaker_turns import session_numbers

_log = structlog.get_logger("transcription.pipeline")

_DONE = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
# States in which an entry's transcription may be recorded: live, or after /done.
_OPEN = (SessionState.COLLECTING, SessionState.TRANSCRIBING)


class EntryGone(Exception):
    """The entry's session ended, the entry was removed, or (live) its audio went away while
    it was being transcribed: there is nothing to record for it."""


def needs_work(folder: SessionFolder, session: Session, sequence: int) -> bool:
    """Whether an entry still has to be transcribed (blocking: checks the transcript file)."""
    entry = session.entry(sequence)
    if entry is None or entry.transcription_status is TranscriptionStatus.FAILED:
        return False
    if entry.transcription_status is TranscriptionStatus.COMPLETED:
        return not folder.has_transcript_text(entry.transcript_filename)
    return True  # PENDING, or IN_PROGRESS left behind by a crash


def entries_to_do(folder: SessionFolder, session: Session) -> list[int]:
    """The sequence numbers of the entries that still have to be transcribed, in order
    (blocking: checks the transcript files)."""
    numbers = sorted(e.sequence for e in session.audio_entries)
    return [n for n in numbers if needs_work(folder, session, n)]


async def _fail_entry(
    manager: SessionManager,
    session_id: str,
    sequence: int,
    code: str,
    message: str,
    *,
    note: AudioEntry,
    name_the_note: bool = False,
) -> TranscriptionStatus:
    await manager.update_transcription_status(
        session_id, sequence, TranscriptionStatus.FAILED, error=message, note=note
    )
    recorded = f"note {sequence}: {message}" if name_the_note else message
    await manager.add_error(session_id, ErrorEntry(message=recorded, code=code, sequence=sequence))
    return TranscriptionStatus.FAILED


async def transcribe_entry(
    manager: SessionManager,
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

    The session may be COLLECTING (live) or TRANSCRIBING. EntryGone (nothing recorded) when,
    by the time there is an outcome, the session has ended or been deleted, the entry was
    removed, or (live) its audio file went; a transcript written for an entry removed at
    that very moment is deleted again. The manager's SessionNotFoundError,
    EntryNotFoundError or InvalidStateError mean the same, raised from a write.
    """
    session = await manager.require_session(session_id)
    folder = manager.folder(session_id)
    entry = session.entry(sequence)
    if entry is None:
        raise EntryNotFoundError(f"session {session_id} has no entry {sequence}")
    if not await asyncio.to_thread(needs_work, folder, session, sequence):
        return entry.transcription_status
    if session.state not in _OPEN:
        raise EntryGone(f"session {session_id} is {session.state}")
    log = _log.bind(session_id=session_id, sequence=sequence)
    await manager.update_transcription_status(
        session_id, sequence, TranscriptionStatus.IN_PROGRESS, note=entry
    )
    options = await chat_options(manager, session.chat_id)
    if not settings.diarization:  # the owner's DIARIZATION gates the chat's /speakers
        options = options.model_copy(update={"diarize": False})
    attempt_entry = _Attempt(manager, session_id, entry)

    timeout = settings.timeout_for(entry.duration_seconds)
    attempts = settings.transcription_retries + 1
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            if not await asyncio.to_thread(folder.has_audio, entry.filename):
                await attempt_entry.ensure_ours(audio_needed=True)
                # Recorded without its file (the contract allows it): this note fails alone.
                log.warning("entry_audio_missing")
                return await _fail_entry(
                    manager,
                    session_id,
                    sequence,
                    "audio_missing",
                    "the audio file is missing",
                    note=entry,
                    name_the_note=True,
                )
            # Only now: a name that is not plain has no audio (has_audio), and fails above.
            audio_path = folder.audio_path(entry.filename)
            result = await run_timed(transcriber, audio_path, timeout, options)
        except EntryGone:
            raise  # its session was cancelled or deleted meanwhile: nothing to retry
        except AudioDecodeError as exc:
            await attempt_entry.ensure_ours(audio_needed=True)
            log.warning("entry_undecodable", error=str(exc))
            return await _fail_entry(
                manager, session_id, sequence, "decode_failed", str(exc), note=entry
            )
        except TimeoutError:
            log.warning("entry_timeout", timeout_seconds=timeout, attempt=attempt)
            if attempt >= attempts:
                await attempt_entry.ensure_ours(audio_needed=True)
                message = (
                    f"transcription took longer than {timeout:.0f} s and was stopped "
                    f"({attempts} attempts)"
                )
                return await _fail_entry(
                    manager, session_id, sequence, "timeout", message, note=entry
                )
            delay = settings.transcription_retry_backoff_seconds * 2 ** (attempt - 1)
            await sleep(delay)
            continue
        except Exception as exc:
            if attempt >= attempts:
                await attempt_entry.ensure_ours(audio_needed=True)
                message = f"transcription failed after {attempts} attempts: {exc}"
                log.exception("entry_failed", attempts=attempts)
                return await _fail_entry(
                    manager, session_id, sequence, "transcription_failed", message, note=entry
                )
            delay = settings.transcription_retry_backoff_seconds * 2 ** (attempt - 1)
            log.warning("entry_retry", attempt=attempt, delay_seconds=delay, error=repr(exc))
            await sleep(delay)
            continue
        await attempt_entry.ensure_ours(audio_needed=False)
        name = await asyncio.to_thread(folder.write_transcript, sequence, result)
        try:
            await manager.update_transcription_status(
                session_id, sequence, TranscriptionStatus.COMPLETED, name, note=entry
            )
        except (EntryNotFoundError, InvalidStateError, SessionNotFoundError):
            # Removed (or ended) between the check and now: its transcript must not stay.
            await asyncio.to_thread(folder.remove_transcript, sequence)
            raise
        log.info(
            "entry_transcribed",
            audio_seconds=round(result.duration_seconds, 2),
            seconds=round(time.perf_counter() - started, 2),
            language=result.language,
            chars=len(result.text),
        )
        return TranscriptionStatus.COMPLETED
    raise AssertionError("unreachable")  # pragma: no cover


class _Attempt:
    """One run of one entry, checked before its outcome is recorded."""

    def __init__(self, manager: SessionManager, session_id: str, entry: AudioEntry) -> None:
        self.manager = manager
        self.session_id = session_id
        self.entry = entry

    async def ensure_ours(self, *, audio_needed: bool) -> None:
        """EntryGone unless the session is still open and still holds this very entry (not
        another note given its number after an undo). With ``audio_needed``, a session still
        COLLECTING must also still have the audio: a note whose file went while it is
        collecting is put back PENDING and left to the pass after /done, which records a
        failure only if the note is still there then."""
        session = await self.manager.require_session(self.session_id)
        if session.state not in _OPEN:
            raise EntryGone(f"session {self.session_id} is {session.state}")
        current = session.entry(self.entry.sequence)
        if current is None or not current.same_note(self.entry):
            raise EntryGone(f"note {self.entry.sequence} was removed")
        if not audio_needed or session.state is not SessionState.COLLECTING:
            return
        folder = self.manager.folder(self.session_id)
        if await asyncio.to_thread(folder.has_audio, current.filename):
            return
        await self.manager.update_transcription_status(
            self.session_id, current.sequence, TranscriptionStatus.PENDING, note=current
        )
        raise EntryGone(f"the audio of note {current.sequence} is gone")


async def chat_options(manager: SessionManager, chat_id: int) -> DecodeOptions:
    """The chat's language, vocabulary and speaker turns (``/speakers``; the caller gates
    them with the owner's ``DIARIZATION``) for its next note. When its settings cannot be
    read (the library's database failed) or make no valid options, the note is transcribed
    with the deployment's settings rather than not at all (logged)."""
    try:
        return DecodeOptions.from_chat(await manager.get_chat_settings(chat_id))
    except SessionError as exc:
        _log.warning("chat_settings_unavailable", chat_id=chat_id, error=str(exc))
        return DEFAULT_OPTIONS
    except ValueError as exc:  # settings the options refuse; its message would quote them
        _log.warning("chat_settings_unavailable", chat_id=chat_id, error=type(exc).__name__)
        return DEFAULT_OPTIONS


async def run_timed(
    transcriber: Transcriber, audio_path: Path, run_timeout: float | None, options: DecodeOptions
) -> TranscriptResult:
    # A transcriber that knows when the run starts (a worker took the job, a thread became
    # free) times only the run; for any other, the whole call is timed.
    if isinstance(transcriber, TimedTranscriber):
        return await transcriber.transcribe_timed(audio_path, run_timeout, options)
    return await asyncio.wait_for(transcriber.transcribe(audio_path, options), run_timeout)


def consolidate(folder: SessionFolder, session: Session) -> str:
    """The session's transcript: one paragraph per completed entry, in sequence order,
    each begun with its speaker ("Anna: ...") when the session is labelled (see
    :func:`sessions.speakers.needs_labels`)."""
    paragraphs = []
    labels = speaker_labels(session)
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        if entry.transcription_status is not TranscriptionStatus.COMPLETED:
            continue
        if entry.transcript_filename is None:
            continue
        text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
        if text is None:  # COMPLETED without its transcript: the consolidation fails
            raise FileNotFoundError(f"the transcript of note {entry.sequence} is missing")
        if text:
            turns = note_turns(session, entry.sequence, folder.read_transcript(entry.sequence))
            if turns is None:
                paragraphs.append(labelled_line(labels.get(entry.sequence), text))
            else:  # the turns sit under the note's own label, when it has one
                head = labelled_line(labels.get(entry.sequence), "").rstrip()
                paragraphs.append("\n".join(filter(None, [head, turns_text(session, turns)])))
    return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")


async def finish_session(manager: SessionManager, session_id: str) -> Session:
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
    folder = manager.folder(session_id)
    numbers = await asyncio.to_thread(session_numbers, folder, session)
    if numbers:  # the voices numbered across the session's notes, before anything is written
        session = await manager.set_speaker_numbers(session_id, numbers)

    def write_input() -> None:
        folder.write_process_input(consolidate(folder, session))

    try:
        await asyncio.to_thread(write_input)
    except OSError as exc:
        await manager.add_error(
            session_id,
            ErrorEntry(message=f"cannot write the consolidated transcript: {exc}", code="storage"),
        )
        return await _transition_once(manager, session_id, SessionState.ERROR)
    return await _transition_once(manager, session_id, SessionState.TRANSCRIBED)


async def _transition_once(
    manager: SessionManager, session_id: str, state: SessionState
) -> Session:
    # Another process (or a racing task) may have finished the session first: that is fine.
    try:
        return await manager.transition_state(session_id, state)
    except InvalidStateError:
        return await manager.require_session(session_id)


async def transcribe_session(
    manager: SessionManager,
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
