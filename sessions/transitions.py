"""Moving a session through the contract's states, and the events each move causes."""

from __future__ import annotations

from functools import partial

from sessions import events as ev
from sessions.models import Session, SessionState, utc_now
from sessions.state_machine import ensure_transition, is_terminal
from sessions.write_queue import Events


def apply_transition(session: Session, new_state: SessionState) -> Events:
    """Move ``session`` to ``new_state`` (InvalidStateError if the table forbids it), stamping
    the time it was finalized or transcribed; returns the events to publish.

    A move to a final state (PROCESSED, ERROR) also clears ``processing_due`` in the same
    write: no state leaves those, so nothing can be owed any more, and a marker left set
    would keep retention off the session for ever.
    """
    old = session.state
    ensure_transition(session.session_id, old, new_state)
    session.state = new_state
    now = utc_now()
    if new_state is SessionState.TRANSCRIBING:
        session.finalized_at = now
    elif new_state is SessionState.TRANSCRIBED:
        session.transcribed_at = now
    if is_terminal(new_state):
        session.processing_due = False
    return transition_events(old, session)


def transition_events(old: SessionState, session: Session) -> Events:
    """The events of a move from ``old`` to the session's current state."""
    changes: Events = []
    if old is SessionState.COLLECTING and session.state is SessionState.TRANSCRIBING:
        finalized = partial(
            ev.SessionFinalized,
            entry_count=len(session.audio_entries),
            total_duration_seconds=session.total_duration_seconds,
        )
        changes.append(finalized)
    changes.append(partial(ev.StateChanged, from_state=old, to_state=session.state))
    return changes


__all__ = ["apply_transition", "transition_events"]
