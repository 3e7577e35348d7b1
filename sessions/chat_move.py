"""A chat that became another chat: a Telegram group upgraded to a supergroup gets a new id.

Everything of the old id moves to the new one: each session's ``chat_id`` in its
``metadata.json`` and the chat's settings; the chat's open session is finalized, so its
transcript reaches the new chat (why it is not continued there: see
:meth:`ChatMoves._finalize_open_session`). Session folders are named by their creation
time, never by their chat, so no folder moves on disk.

A move is crash-safe and idempotent. Its record (``.chat-moves/<old id>.json``) is written
first, before any session changes, and lists the sessions it moves; each session is then
saved under the new id (one atomic write each), and a session already under the new id is
left alone. A crash part of the way leaves the record unfinished: moving again (at the next
start, or at the next sign of the migration) finishes what is left, and doubles nothing.
The record is kept when the move is finished: it tells where the old id went, so a note or
a send that still names the old chat follows it.

Blocking (file I/O, fsync, file locks): the manager calls it from a worker thread.
"""

from __future__ import annotations

import contextlib
import os

import structlog
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from sessions.atomic import write_atomic
from sessions.chat_settings import ChatSettings
from sessions.chat_settings_manager import ChatSettingsKeeper
from sessions.errors import SessionNotFoundError
from sessions.ids import sort_key
from sessions.models import Session, SessionState, utc_now
from sessions.reading import SessionReader
from sessions.storage import SessionStorage
from sessions.transitions import apply_transition

_log = structlog.get_logger("sessions.chat_move")

MOVES_DIR = "chat-moves"  # a dot-folder beside the sessions: .chat-moves/


class ChatMove(BaseModel):
    """The record of one chat's move to a new id."""

    old_chat_id: int
    new_chat_id: int
    sessions: list[str] = Field(default_factory=list)  # every session moved, by id
    finished: bool = False  # sessions, open session, settings and index all moved
    moved_at: AwareDatetime = Field(default_factory=utc_now)


class ChatMoves:
    """Moves chats' sessions and keeps the records of the moves (blocking)."""

    def __init__(self, storage: SessionStorage, reader: SessionReader) -> None:
        self.storage = storage
        self._reader = reader

    # -- records -----------------------------------------------------------------------------

    def record(self, chat_id: int) -> ChatMove | None:
        """The record of ``chat_id``'s move, if it moved (an unreadable record is logged
        and taken as none: the next sign of the migration writes it again)."""
        path = self.storage.book_dir(MOVES_DIR) / f"{int(chat_id)}.json"
        try:
            return ChatMove.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            _log.warning("chat_move_unreadable", chat_id=chat_id, error=type(exc).__name__)
            return None

    def destination(self, chat_id: int) -> int | None:
        """The id ``chat_id`` moved to, if it did."""
        record = self.record(chat_id)
        return None if record is None else record.new_chat_id

    def all(self) -> list[ChatMove]:
        """Every recorded move, finished or not."""
        found = []
        for name in sorted(os.listdir(self.storage.book_dir(MOVES_DIR))):
            stem, dot, ext = name.partition(".")
            if dot and ext == "json" and stem.lstrip("-").isdigit():
                record = self.record(int(stem))
                if record is not None:
                    found.append(record)
        return found

    def finish(self, old_chat_id: int) -> ChatMove | None:
        """Mark the move of ``old_chat_id`` finished (nothing when there is no record)."""
        with self.storage.chat_lock(old_chat_id):
            record = self.record(old_chat_id)
            if record is not None and not record.finished:
                record.finished = True
                self._write(record)
        return record

    # -- the move ----------------------------------------------------------------------------

    def move(self, old_chat_id: int, new_chat_id: int) -> tuple[ChatMove, Session | None]:
        """Move every session of ``old_chat_id`` to ``new_chat_id`` and finalize its open
        session; returns the record and the session finalized, if one was (to publish).

        ValueError when the old chat is recorded as moved to another id, or both ids are one.
        """
        if old_chat_id == new_chat_id:
            raise ValueError(f"chat {old_chat_id} cannot move to itself")
        # Under the old chat's lock no session of it opens meanwhile (a session opened later
        # finds the record and opens under the new id instead: see FileSessionManager).
        with self.storage.chat_lock(old_chat_id):
            record = self.record(old_chat_id) or ChatMove(
                old_chat_id=old_chat_id, new_chat_id=new_chat_id
            )
            if record.new_chat_id != new_chat_id:
                raise ValueError(
                    f"chat {old_chat_id} moved to {record.new_chat_id}, not {new_chat_id}"
                )
            found = [
                s.session_id
                for s in self._reader.readable(self.storage.list_all())
                if s.chat_id == old_chat_id
            ]
            if found or not record.sessions:
                record.sessions = sorted(set(record.sessions) | set(found), key=sort_key)
                record.finished = False
                self._write(record)  # durable before the first session changes
            for session_id in found:
                self._move_session(session_id, old_chat_id, new_chat_id)
            finalized = self._finalize_open_session(old_chat_id, new_chat_id)
        return record, finalized

    def _move_session(self, session_id: str, old_chat_id: int, new_chat_id: int) -> None:
        with contextlib.suppress(SessionNotFoundError), self.storage.lock(session_id):
            session = self._reader.load_or_none(session_id)
            if session is not None and session.chat_id == old_chat_id:
                session.chat_id = new_chat_id
                session.updated_at = utc_now()
                self.storage.save(session)

    def _finalize_open_session(self, old_chat_id: int, new_chat_id: int) -> Session | None:
        """The old chat's open session is finalized (as /done would), so its notes are
        transcribed and delivered to the new chat, which opens a session of its own for its
        next note. Not continued there: Telegram numbers messages per chat, a session
        recognises a note sent again by its message id, and the new chat's ids start over,
        so one of its notes could be taken for one of the group's and dropped. Returns the
        session finalized (to publish), if one was."""
        session_id = self.storage.read_active_marker(old_chat_id)
        if session_id is None:
            return None
        with contextlib.suppress(SessionNotFoundError), self.storage.lock(session_id):
            session = self._reader.load_or_none(session_id)
            if session is None or session.state is not SessionState.COLLECTING:
                return None
            if session.chat_id not in (old_chat_id, new_chat_id):
                return None  # not one of this chat's sessions
            apply_transition(session, SessionState.TRANSCRIBING)
            session.chat_id = new_chat_id  # if a crash left it behind
            session.updated_at = utc_now()
            self.storage.save(session)
            return session
        return None

    def _write(self, record: ChatMove) -> None:
        path = self.storage.book_dir(MOVES_DIR) / f"{record.old_chat_id}.json"
        write_atomic(path, record.model_dump_json(indent=2).encode())


async def move_chat_settings(
    keeper: ChatSettingsKeeper, old_chat_id: int, new_chat_id: int
) -> None:
    """The old chat's settings become the new chat's, unless the new chat has settings of
    its own already; then the old ones are deleted. Written before deleted: a crash in
    between leaves both, and moving again finishes it."""
    moved = await keeper.get_chat_settings(old_chat_id)
    if not moved.is_default:

        def keep_own(current: ChatSettings) -> ChatSettings:
            return moved if current.is_default else current

        await keeper.update_chat_settings(new_chat_id, keep_own)
    await keeper.delete_chat_settings(old_chat_id)


__all__ = ["MOVES_DIR", "ChatMove", "ChatMoves", "move_chat_settings"]
