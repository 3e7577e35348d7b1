"""Taking things back: the changes that remove a note, cancel a session or delete its audio.

Each builder returns a change for the write queue (:mod:`sessions.write_queue`). The files
are deleted inside the change, under the session's lock and before the metadata is saved:
a crash in between leaves an entry whose file is gone (which the contract allows: such a
note fails alone), never a file the metadata no longer names.
"""

from __future__ import annotations

from functools import partial

from sessions import events as ev
from sessions.errors import EntryNotFoundError, InvalidStateError, SessionImmutableError
from sessions.folder import SessionFolder
from sessions.models import ErrorEntry, Session, SessionState, utc_now
from sessions.transitions import apply_transition
from sessions.write_queue import Change, Events

CANCELLED = "cancelled"
"""The code of the error entry a cancelled session ends with."""

# A session's audio may be deleted once nothing will transcribe it again.
AUDIO_REMOVABLE = frozenset({SessionState.TRANSCRIBED, SessionState.PROCESSED, SessionState.ERROR})


def entry_removal(folder: SessionFolder, sequence: int) -> Change:
    """Remove note ``sequence`` (its audio, its transcript, its entry) from a COLLECTING
    session. The last number handed out is given back, so the next note takes it."""

    def change(session: Session) -> Events:
        if session.state is not SessionState.COLLECTING:
            raise SessionImmutableError(
                f"session {session.session_id} is {session.state}; notes can only be "
                "removed while it is COLLECTING"
            )
        entry = session.entry(sequence)
        if entry is None:
            raise EntryNotFoundError(f"session {session.session_id} has no entry {sequence}")
        folder.remove_entry_files(sequence, entry.filename, entry.transcript_filename)
        session.audio_entries.remove(entry)
        if entry.message_id is not None:
            session.reserved_sequences.pop(entry.message_id, None)
        if sequence == session.next_sequence - 1:
            session.next_sequence = sequence
        removed = partial(
            ev.EntryRemoved,
            sequence=sequence,
            entry_count=len(session.audio_entries),
            total_duration_seconds=session.total_duration_seconds,
        )
        return [removed]

    return change


def cancellation(folder: SessionFolder) -> Change:
    """Discard a COLLECTING session: its audio and its transcripts (notes transcribed live:
    texts and timed segments) are deleted, a ``cancelled`` error entry is added and it moves
    to ERROR. Nothing of what was said is left in its folder."""

    def change(session: Session) -> Events:
        if session.state is not SessionState.COLLECTING:
            raise InvalidStateError(
                f"session {session.session_id} is {session.state}; only a COLLECTING "
                "session can be cancelled"
            )
        # The words first: cut off in between (before the metadata is saved), the session
        # is still COLLECTING with its audio, never left with words and no note; the
        # /cancel, not confirmed to Telegram, comes again.
        transcripts = folder.remove_all_transcripts()
        folder.remove_notes()  # none are made while COLLECTING; nothing of it may stay
        audio = folder.remove_all_audio()
        session.audio_removed_at = utc_now()
        error = ErrorEntry(code=CANCELLED, message="the session was cancelled")
        session.errors.append(error)
        events: Events = [
            partial(ev.AudioRemoved, files_removed=audio),
            partial(ev.ErrorAdded, code=error.code, message=error.message),
            *apply_transition(session, SessionState.ERROR),
            partial(
                ev.SessionCancelled,
                sequences=[e.sequence for e in session.audio_entries],
                files_removed=audio + transcripts,
            ),
        ]
        return events

    return change


def audio_removal(folder: SessionFolder) -> Change:
    """Delete the audio of a session that nothing will transcribe again (TRANSCRIBED,
    PROCESSED or ERROR) and record when; the transcripts stay. Repeating it removes any
    audio file that appeared since, and otherwise changes nothing."""

    def change(session: Session) -> Events | None:
        if session.state not in AUDIO_REMOVABLE:
            raise InvalidStateError(
                f"session {session.session_id} is {session.state}; its audio can be removed "
                "only once it is TRANSCRIBED, PROCESSED or ERROR"
            )
        removed = folder.remove_all_audio()
        if session.audio_removed_at is not None and not removed:
            return None
        if session.audio_removed_at is None:
            session.audio_removed_at = utc_now()
        return [partial(ev.AudioRemoved, files_removed=removed)]

    return change


__all__ = ["AUDIO_REMOVABLE", "CANCELLED", "audio_removal", "cancellation", "entry_removal"]
