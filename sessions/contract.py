"""The owner's contract: the abstract :class:`SessionManager` every consumer depends on.

Exactly the contract's methods, names, parameters and errors (``session-manager-contract.md``),
async because every operation may touch disk; then the project's additions, declared here
too so that the bot, transcription and processing need nothing but this type. Only the
composition root builds the implementation, :class:`~sessions.manager.FileSessionManager`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from sessions.chat_move import ChatMove
from sessions.chat_settings import ChatSettings
from sessions.config import SessionConfig
from sessions.events import EventBus
from sessions.folder import SessionFolder
from sessions.models import AudioEntry, ErrorEntry, Session, SessionState, TranscriptionStatus


class SessionManager(ABC):
    """The contract's session manager, async because every operation may touch disk."""

    events: EventBus
    config: SessionConfig

    @abstractmethod
    async def get_active_session(self, chat_id: int | None = None) -> Session | None:
        """The newest COLLECTING session; with ``chat_id`` (the project's addition), the chat's."""

    @abstractmethod
    async def create_session(self, chat_id: int) -> Session:
        """Create a new session, finalizing this chat's active session first."""

    @abstractmethod
    async def finalize_session(self, session_id: str) -> Session:
        """COLLECTING -> TRANSCRIBING. InvalidStateError from any other state."""

    @abstractmethod
    async def add_audio(self, session_id: str, audio_entry: AudioEntry) -> Session:
        """Record an audio entry (idempotent on its message id); its file need not be there.

        SessionImmutableError (an InvalidStateError) unless COLLECTING; SessionNotFoundError
        for an unknown session; ValueError (AudioRejectedError) for an entry that is
        malformed in itself or conflicts with the session's numbering.
        """

    @abstractmethod
    async def update_transcription_status(
        self,
        session_id: str,
        sequence: int,
        status: TranscriptionStatus,
        transcript_filename: str | None = None,
        *,
        error: str | None = None,
        note: AudioEntry | None = None,
    ) -> Session:
        """Set one entry's transcription status (and transcript file name, or error).

        ``note`` (an addition to the contract): only if the entry with this number is still
        that note (same file, message and arrival), EntryNotFoundError otherwise; for a run
        that must not record its outcome on another note given the number after an undo."""

    @abstractmethod
    async def transition_state(self, session_id: str, new_state: SessionState) -> Session:
        """Move to ``new_state`` if the transition table allows it, else InvalidStateError."""

    @abstractmethod
    async def add_error(self, session_id: str, error: ErrorEntry) -> Session:
        """Append an error entry."""

    @abstractmethod
    async def get_session(self, session_id: str) -> Session | None:
        """The session, or None for a well-formed id that does not exist."""

    @abstractmethod
    async def list_sessions(
        self, limit: int = 10, *, chat_id: int | None = None, offset: int = 0
    ) -> list[Session]:
        """Recent sessions, newest first (with ``chat_id``, only that chat's); ``offset``
        (the project's addition) skips that many of the newest, for paging."""

    @abstractmethod
    def get_session_path(self, session_id: str) -> Path:
        """Folder of a session."""

    # -- the project's additions ----------------------------------------------------------

    @abstractmethod
    def folder(self, session_id: str) -> SessionFolder:
        """The session's files (audio, transcripts, process input and outputs)."""

    @abstractmethod
    async def require_session(self, session_id: str) -> Session:
        """Like :meth:`get_session`, but SessionNotFoundError when it does not exist."""

    @abstractmethod
    async def sessions_in_states(self, *states: SessionState) -> list[Session]:
        """Every readable session in one of ``states``, oldest first (to resume work)."""

    @abstractmethod
    async def remove_leftovers(self) -> list[Path]:
        """At start: delete what writes cut off by a crash left behind; returns it."""

    async def empty_trash(self) -> list[Path]:
        """Delete what deletions could not remove at the time; returns it. Safe at any
        time; never raises for the disk. (Nothing to do for a manager without a trash.)"""
        return []

    @abstractmethod
    async def ensure_active_session(self, chat_id: int) -> Session:
        """The chat's active session, creating one if there is none (never finalizes)."""

    @abstractmethod
    async def start_session(self, chat_id: int) -> Session:
        """Like :meth:`create_session`, but an open session with no notes is kept."""

    @abstractmethod
    async def reserve(self, session_id: str, message_id: int | None = None) -> tuple[int, Session]:
        """Take the next sequence number (the same again for the same message)."""

    @abstractmethod
    async def release_reservation(self, session_id: str, message_id: int) -> Session:
        """Give back the number reserved for a message that will not be recorded."""

    @abstractmethod
    async def mark_delivered(self, session_id: str) -> Session:
        """Record that the session's transcript reached the chat (idempotent)."""

    @abstractmethod
    async def mark_outputs_delivered(self, session_id: str) -> Session:
        """Record that the processing stage's outcome reached the chat (idempotent)."""

    @abstractmethod
    async def record_delivery(
        self, session_id: str, part: str, refused: str | None = None
    ) -> Session:
        """Record that one part of the delivery arrived (or was refused for good)."""

    @abstractmethod
    async def mark_processing_due(self, session_id: str) -> Session:
        """Record that the processing stage owes the session a run (idempotent)."""

    @abstractmethod
    async def clear_processing_due(self, session_id: str) -> Session:
        """Clear that mark of a PROCESSED or ERROR session (idempotent; any other state
        keeps it). Moving to those states clears it too; this repairs older sessions."""

    @abstractmethod
    async def set_speaker_numbers(
        self, session_id: str, numbers: Mapping[int, Sequence[int]]
    ) -> Session:
        """Record, per note (by sequence), the session-wide numbers (1..n) of the voices
        diarization found in it, in the note's own order (``speaker_numbers``); replaces
        what was recorded. Idempotent."""

    @abstractmethod
    async def name_speaker(self, session_id: str, number: int, name: str | None) -> Session:
        """Name the session's speaker ``number`` (``speaker_names``); None removes the name.
        ValueError for a number out of 1..99. The name is kept on one line, cut to 40."""

    @abstractmethod
    async def remove_entry(self, session_id: str, sequence: int) -> Session:
        """Remove note ``sequence`` (audio, transcript, entry) of a COLLECTING session.

        InvalidStateError unless COLLECTING; EntryNotFoundError for no such note. When it
        held the last number handed out, the next note gets that number. Event: EntryRemoved.
        """

    @abstractmethod
    async def cancel_session(self, session_id: str) -> Session:
        """Discard a COLLECTING session: audio and transcripts deleted, a ``cancelled``
        error entry, ERROR.

        InvalidStateError from any other state. Events: AudioRemoved, ErrorAdded,
        StateChanged, SessionCancelled.
        """

    @abstractmethod
    async def delete_session(
        self, session_id: str, *, unless_in: Collection[SessionState] = ()
    ) -> None:
        """Delete the session and everything on disk, whatever its state; with
        ``unless_in``, InvalidStateError (nothing deleted) when it is in one of those states,
        checked in the same step as the deletion (so it cannot change in between).

        SessionNotFoundError if unknown. Crash-safe: the whole session or nothing is left.
        Event: SessionDeleted.
        """

    @abstractmethod
    async def remove_audio(self, session_id: str) -> Session:
        """Delete the audio of a TRANSCRIBED, PROCESSED or ERROR session (transcripts stay)
        and record when (``audio_removed_at``). InvalidStateError in any other state.
        Event: AudioRemoved.
        """

    # -- a chat that got a new id (the project's addition) ------------------------------------

    @abstractmethod
    async def move_chat(self, old_chat_id: int, new_chat_id: int) -> ChatMove:
        """Give everything of chat ``old_chat_id`` to ``new_chat_id`` (a group upgraded to
        a supergroup): each session's ``chat_id`` and the chat's settings (unless the new
        chat has its own); the open session is finalized, so its transcript reaches the new
        chat. A session opened for the old id afterwards opens under the new id.

        Idempotent and crash-safe: the move is recorded before anything changes, and a
        move cut off part of the way is finished by calling this again; nothing is doubled.
        Returns the record, which lists every session moved; it stays unfinished until
        :meth:`finish_chat_move` (the caller re-indexes the sessions first).
        ValueError when the old chat already moved to another id. Events: those of the
        finalized session (SessionFinalized, StateChanged), if one was.
        """

    @abstractmethod
    async def chat_moves(self) -> list[ChatMove]:
        """Every recorded move of a chat to a new id, finished or not (to finish at start)."""

    @abstractmethod
    async def finish_chat_move(self, old_chat_id: int) -> None:
        """Record that the move of ``old_chat_id`` is complete (idempotent)."""

    # -- a chat's own settings (the project's addition) --------------------------------------

    @abstractmethod
    async def get_chat_settings(self, chat_id: int) -> ChatSettings:
        """The chat's settings (default settings when it has none stored).

        LibraryError (a SessionError) when the store cannot be read right now.
        """

    @abstractmethod
    async def update_chat_settings(
        self, chat_id: int, change: Callable[[ChatSettings], ChatSettings]
    ) -> ChatSettings:
        """Apply ``change`` to the chat's settings and store the result, one change at a
        time; returns what was stored. An exception from ``change`` (e.g.
        VocabularyLimitError) propagates and nothing is stored.

        LibraryError (a SessionError) when the store cannot be read or written right now;
        nothing is stored then either.
        """

    @abstractmethod
    async def delete_chat_settings(self, chat_id: int) -> bool:
        """Remove the chat's settings for good; whether it had any.

        LibraryError (a SessionError) when the store cannot be written right now.
        """


__all__ = ["SessionManager"]
