"""Recording a note: the change that adds an audio entry to a COLLECTING session.

Like :mod:`sessions.removal`, a builder of a change for the write queue
(:mod:`sessions.write_queue`), applied under the session's lock.
"""

from __future__ import annotations

from functools import partial

from sessions import events as ev
from sessions.errors import AudioRejectedError, SessionImmutableError
from sessions.layout import is_plain_filename
from sessions.models import AudioEntry, Session, SessionState, TranscriptionStatus
from sessions.write_queue import Change, Events


def ensure_collecting(session: Session) -> None:
    """SessionImmutableError unless ``session`` is COLLECTING."""
    if session.state is not SessionState.COLLECTING:
        raise SessionImmutableError(
            f"session {session.session_id} is {session.state}; audio can only be added "
            "while it is COLLECTING"
        )


def audio_addition(entry: AudioEntry, max_duration: float) -> Change:
    """Add ``entry`` (validated already) as a PENDING note: nothing for a message already
    recorded; AudioRejectedError for audio over ``max_duration`` seconds, a number taken
    or reserved for another message, or a file name that is not a plain one."""

    def change(session: Session) -> Events | None:
        ensure_collecting(session)
        if entry.message_id is not None and session.entry_for_message(entry.message_id):
            return None
        if entry.duration_seconds > max_duration:
            raise AudioRejectedError(
                f"audio is {entry.duration_seconds:.0f} s long; the limit is {max_duration} s"
            )
        if session.entry(entry.sequence) is not None:
            raise AudioRejectedError(f"sequence {entry.sequence} is already taken")
        reserved = session.reserved_sequences.get(entry.message_id or -1)
        if entry.message_id is not None and reserved not in (None, entry.sequence):
            raise AudioRejectedError(
                f"message {entry.message_id} holds sequence {reserved}, not {entry.sequence}"
            )
        if not is_plain_filename(entry.filename):
            raise AudioRejectedError(f"not a plain file name: {entry.filename!r}")
        entry.transcription_status = TranscriptionStatus.PENDING
        session.audio_entries.append(entry)
        session.audio_entries.sort(key=lambda e: e.sequence)
        session.next_sequence = max(session.next_sequence, entry.sequence + 1)
        if entry.message_id is not None:
            session.reserved_sequences.pop(entry.message_id, None)
        added = partial(
            ev.AudioAdded,
            sequence=entry.sequence,
            filename=entry.filename,
            duration_seconds=entry.duration_seconds,
            entry_count=len(session.audio_entries),
            total_duration_seconds=session.total_duration_seconds,
        )
        return [added]

    return change


__all__ = ["audio_addition", "ensure_collecting"]
