"""The session state machine: exactly the contract's transition table."""

from __future__ import annotations

from types import MappingProxyType

from sessions.errors import InvalidStateError
from sessions.models import SessionState

_S = SessionState

ALLOWED_TRANSITIONS: MappingProxyType[SessionState, frozenset[SessionState]] = MappingProxyType(
    {
        _S.COLLECTING: frozenset({_S.TRANSCRIBING, _S.ERROR}),
        _S.TRANSCRIBING: frozenset({_S.TRANSCRIBED, _S.ERROR}),
        _S.TRANSCRIBED: frozenset({_S.PROCESSING, _S.ERROR}),
        _S.PROCESSING: frozenset({_S.PROCESSED, _S.ERROR}),
        _S.PROCESSED: frozenset(),
        _S.ERROR: frozenset(),
    }
)


def can_transition(current: SessionState, new: SessionState) -> bool:
    """Whether the contract allows moving from ``current`` to ``new``."""
    return new in ALLOWED_TRANSITIONS[current]


def ensure_transition(session_id: str, current: SessionState, new: SessionState) -> None:
    """Raise :class:`InvalidStateError` unless ``current -> new`` is allowed."""
    if not can_transition(current, new):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none (terminal)"
        raise InvalidStateError(
            f"session {session_id}: cannot go from {current} to {new} (allowed: {allowed})"
        )


def is_terminal(state: SessionState) -> bool:
    """Whether no transition leaves ``state``."""
    return not ALLOWED_TRANSITIONS[state]
