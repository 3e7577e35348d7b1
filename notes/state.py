"""What a session's notes are at: owed, written, delivered or failed, kept in the session
folder's ``notes/state.json`` (written atomically through :class:`sessions.SessionFolder`).

A note is recorded as owed before the model is called, and as written once its text is
stored, before it is handed to the bot. So a restart writes what was owed (once: a note
whose text is already stored is not asked for again) and hands on again what was written
and not delivered, and no model is called twice for one note.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from runtime.redaction import error_kinds
from sessions import SessionManager
from sessions.locks import KeyedLocks
from sessions.models import utc_now

_log = structlog.get_logger("notes.state")


class Stage(StrEnum):
    OWED = "owed"
    WRITTEN = "written"
    DELIVERED = "delivered"
    FAILED = "failed"


class NoteRecord(BaseModel):
    """One note of a session: what was asked, and how far it got."""

    model_config = ConfigDict(extra="ignore")

    stage: Stage
    prompt: str  # the prompt file: a style's name, or "reply"
    style: str | None = None  # None for a reply instruction
    instruction: str | None = None  # a custom style's or a reply's
    reason: str | None = None  # a failed note's, for people
    # Restarts that tried a failed note again (once: the endpoint may be back).
    resumed: int = 0
    updated_at: AwareDatetime = Field(default_factory=utc_now)

    def moved(self, stage: Stage, **changes: Any) -> NoteRecord:
        return self.model_copy(update={"stage": stage, "updated_at": utc_now(), **changes})


class NotesState(BaseModel):
    """All the notes of one session, by key, and the latest written (a reply reads it)."""

    model_config = ConfigDict(extra="ignore")

    notes: dict[str, NoteRecord] = Field(default_factory=dict)
    latest: str | None = None

    @classmethod
    def from_stored(cls, data: dict[str, Any], session_id: str) -> NotesState:
        """The stored state; empty (logged) when it cannot be read."""
        if not data:
            return cls()
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            _log.warning("notes_state_unreadable", session_id=session_id, error=error_kinds(exc))
            return cls()

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Ledger:
    """The notes' states of every session, read and changed one session at a time (the
    files are read and written off the event loop)."""

    def __init__(self, manager: SessionManager) -> None:
        self._manager = manager
        self.locks = KeyedLocks()  # held across a read-change-write of one session's state

    async def load(self, session_id: str) -> NotesState:
        folder = self._manager.folder(session_id)
        return NotesState.from_stored(await asyncio.to_thread(folder.read_notes_state), session_id)

    async def save(self, session_id: str, state: NotesState) -> None:
        """Store the state (FileNotFoundError when the session's folder is gone)."""
        folder = self._manager.folder(session_id)
        await asyncio.to_thread(folder.write_notes_state, state.stored())

    async def move(
        self,
        session_id: str,
        key: str,
        stage: Stage,
        allowed_from: frozenset[Stage],
        reason: str | None = None,
    ) -> bool:
        """Move note ``key`` to ``stage`` if it is in ``allowed_from``; whether it moved
        (False too when the session is gone)."""
        async with self.locks.hold(session_id):
            state = await self.load(session_id)
            record = state.notes.get(key)
            if record is None or record.stage not in allowed_from:
                return False
            state.notes[key] = record.moved(stage, reason=reason)
            if stage is Stage.WRITTEN:
                state.latest = key
            try:
                await self.save(session_id, state)
            except FileNotFoundError:
                return False
            return True


__all__ = ["Ledger", "NoteRecord", "NotesState", "Stage"]
