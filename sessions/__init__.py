"""The session core: models, state machine, atomic file storage and events.

Knows nothing of Telegram or Whisper. The names below are public and fixed. Other packages
depend on the abstract :class:`SessionManager` and reach a session's files only through
:class:`SessionFolder` (``manager.folder(session_id)``): only this package knows the layout.
"""

from sessions.chat_settings import ChatSettings, VocabularyLimitError
from sessions.config import SessionConfig
from sessions.contract import SessionManager
from sessions.errors import (
    AudioRejectedError,
    CorruptSessionError,
    EntryNotFoundError,
    InvalidStateError,
    SessionError,
    SessionImmutableError,
    SessionNotFoundError,
)
from sessions.events import (
    AudioAdded,
    AudioRemoved,
    Delivered,
    EntryRemoved,
    EntryStatusChanged,
    ErrorAdded,
    Event,
    EventBus,
    NotesChanged,
    OutputsDelivered,
    SessionCancelled,
    SessionCreated,
    SessionDeleted,
    SessionEvent,
    SessionFinalized,
    StateChanged,
)
from sessions.folder import (
    AudioUpload,
    AudioWriter,
    OutputListing,
    SessionFolder,
    UnreadableOutputError,
)
from sessions.library import LibraryError, SearchHit, SessionLibrary, library_path
from sessions.library_query import Fragment
from sessions.locks import KeyedLocks
from sessions.manager import FileSessionManager
from sessions.models import (
    AudioEntry,
    ErrorEntry,
    Session,
    SessionState,
    Speaker,
    SpeakerKind,
    TranscriptionStatus,
)
from sessions.retention import RetentionSettings, RetentionSweeper, SweepReport
from sessions.storage import FileSessionStorage, SessionStorage, make_dir, write_atomic
from sessions.transcripts import Transcript, TranscriptSegment

__all__ = [
    "AudioAdded",
    "AudioEntry",
    "AudioRejectedError",
    "AudioRemoved",
    "AudioUpload",
    "AudioWriter",
    "ChatSettings",
    "CorruptSessionError",
    "Delivered",
    "EntryNotFoundError",
    "EntryRemoved",
    "EntryStatusChanged",
    "ErrorAdded",
    "ErrorEntry",
    "Event",
    "EventBus",
    "FileSessionManager",
    "FileSessionStorage",
    "Fragment",
    "InvalidStateError",
    "KeyedLocks",
    "LibraryError",
    "NotesChanged",
    "OutputListing",
    "OutputsDelivered",
    "RetentionSettings",
    "RetentionSweeper",
    "SearchHit",
    "Session",
    "SessionCancelled",
    "SessionConfig",
    "SessionCreated",
    "SessionDeleted",
    "SessionError",
    "SessionEvent",
    "SessionFinalized",
    "SessionFolder",
    "SessionImmutableError",
    "SessionLibrary",
    "SessionManager",
    "SessionNotFoundError",
    "SessionState",
    "SessionStorage",
    "Speaker",
    "SpeakerKind",
    "StateChanged",
    "SweepReport",
    "Transcript",
    "TranscriptSegment",
    "TranscriptionStatus",
    "UnreadableOutputError",
    "VocabularyLimitError",
    "library_path",
    "make_dir",
    "write_atomic",
]
