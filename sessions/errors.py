"""Errors raised by the session core.

Every error derives from :class:`SessionError`, so callers that only want to know
"the session layer said no" can catch one type.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base class of every error the session core raises on purpose."""


class InvalidStateError(SessionError):
    """A state transition or operation is not allowed in the session's current state."""


class SessionImmutableError(InvalidStateError):
    """An attempt to change the recorded audio of a session that is no longer COLLECTING.

    It subclasses :class:`InvalidStateError` because the contract describes the same
    situation both ways: "session not in COLLECTING state" and "finalized session".
    """


class SessionNotFoundError(SessionError, LookupError):
    """The session id is unknown, or is not a well-formed session id at all."""


class EntryNotFoundError(SessionError, LookupError):
    """The session has no audio entry with the requested sequence number."""


class AudioRejectedError(SessionError, ValueError):
    """An audio entry was refused (too long, a duplicate sequence, a missing file...)."""


class CorruptSessionError(SessionError):
    """A session's metadata.json exists but cannot be read as a session.

    Raised instead of a raw JSON or validation error so that callers can contain the
    damage to that one session.
    """

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(f"session {session_id!r} has unreadable metadata: {reason}")
        self.session_id = session_id
        self.reason = reason
