"""The session core: the contract and what implements it.

Owns the models (:class:`Session`, :class:`AudioEntry`, ...), the state machine, the
abstract :class:`SessionManager` and its file implementation, :class:`SessionStorage`,
:class:`SessionFolder`, the events and the errors, plus the rule that labels who said what
(``sessions.speakers``: a rule over the session model, shared by the transcript, notes and
the bot's texts, so it lives with the model it reads).

A chat's :class:`ChatSettings` is a contract type (``get_chat_settings`` /
``update_chat_settings`` return it), so the model stays here together with the small
:class:`~sessions.chat_settings.ChatSettingsStore` protocol the manager keeps them in
(in memory by default). The SQLite store that implements that protocol lives in the
library package (``library.chat_settings_store``) and is handed to the manager by the
composition root (``manager.use_chat_settings``): dependency inversion, so this package
never imports the library.

May import: the standard library, pydantic, structlog and ``runtime`` only. Knows nothing
of Telegram, Whisper, the library or the note writer. The names below are public and
fixed. Other packages depend on the abstract :class:`SessionManager` and reach a session's
files only through :class:`SessionFolder` (``manager.folder(session_id)``): only this
package knows the layout.
"""

from sessions.atomic import make_dir, write_atomic
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
from sessions.folder import AudioUpload, AudioWriter, SessionFolder
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
from sessions.process_files import OutputListing, UnreadableOutputError
from sessions.storage import FileSessionStorage, SessionStorage
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
    "InvalidStateError",
    "KeyedLocks",
    "NotesChanged",
    "OutputListing",
    "OutputsDelivered",
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
    "SessionManager",
    "SessionNotFoundError",
    "SessionState",
    "SessionStorage",
    "Speaker",
    "SpeakerKind",
    "StateChanged",
    "Transcript",
    "TranscriptSegment",
    "TranscriptionStatus",
    "UnreadableOutputError",
    "VocabularyLimitError",
    "make_dir",
    "write_atomic",
]
