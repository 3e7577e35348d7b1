"""The session core: models, state machine, atomic file storage and events.

Knows nothing of Telegram or Whisper. The names below are public and fixed.
"""

from sessions.config import SessionConfig
from sessions.errors import (
    AudioRejectedError,
    CorruptSessionError,
    EntryNotFoundError,
    InvalidStateError,
    SessionError,
    SessionImmutableError,
    SessionNotFoundError,
)
from sessions.events import EventBus, SessionEvent
from sessions.manager import FileSessionManager, SessionManager
from sessions.models import AudioEntry, ErrorEntry, Session, SessionState, TranscriptionStatus
from sessions.storage import FileSessionStorage, SessionStorage

__all__ = [
    "AudioEntry",
    "AudioRejectedError",
    "CorruptSessionError",
    "EntryNotFoundError",
    "ErrorEntry",
    "EventBus",
    "FileSessionManager",
    "FileSessionStorage",
    "InvalidStateError",
    "Session",
    "SessionConfig",
    "SessionError",
    "SessionEvent",
    "SessionImmutableError",
    "SessionManager",
    "SessionNotFoundError",
    "SessionState",
    "SessionStorage",
    "TranscriptionStatus",
]
