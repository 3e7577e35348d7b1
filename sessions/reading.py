"""Reading sessions back: listings, a chat's active session, loads that tolerate damage.

Blocking (it reads files): the manager calls it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import structlog

from sessions.errors import CorruptSessionError, SessionNotFoundError
from sessions.models import Session, SessionState
from sessions.storage import SessionStorage

_log = structlog.get_logger("sessions.manager")


class SessionReader:
    """Queries over a :class:`SessionStorage`, by id order (which is creation order)."""

    def __init__(self, storage: SessionStorage) -> None:
        self.storage = storage

    def in_states(self, states: frozenset[SessionState]) -> list[Session]:
        """Every readable session in one of ``states``, oldest first."""
        return [s for s in self.readable(self.storage.list_all()) if s.state in states]

    def active(self, chat_id: int) -> Session | None:
        """The chat's COLLECTING session its active marker names, if any."""
        session_id = self.storage.read_active_marker(chat_id)
        if session_id is None:
            return None
        session = self.load_or_none(session_id)
        if session is None or session.state is not SessionState.COLLECTING:
            return None
        return session if session.chat_id == chat_id else None

    def any_active(self) -> Session | None:
        """The newest of every chat's active session."""
        found = [s for c in self.storage.active_markers() if (s := self.active(c))]
        return max(found, key=lambda s: s.created_at, default=None)

    def recent(self, limit: int, chat_id: int | None, offset: int) -> list[Session]:
        """Up to ``limit`` sessions, newest first (of one chat), after skipping ``offset``."""
        result: list[Session] = []
        if limit <= 0:
            return result
        skip = max(offset, 0)
        for session in self.readable(reversed(self.storage.list_all())):
            if chat_id is None or session.chat_id == chat_id:
                if skip:
                    skip -= 1
                    continue
                result.append(session)
                if len(result) >= limit:
                    break
        return result

    def readable(self, session_ids: Iterable[str]) -> Iterator[Session]:
        """The sessions of ``session_ids`` that can be read (unreadable ones are logged)."""
        for session_id in session_ids:
            session = self.load_or_none(session_id)
            if session is not None:
                yield session

    def load_or_none(self, session_id: str) -> Session | None:
        """The session; None if it does not exist or cannot be read (logged)."""
        try:
            return self.storage.load(session_id)
        except CorruptSessionError as exc:
            _log.warning("session_unreadable", session_id=session_id, reason=exc.reason)
            return None

    def load_required(self, session_id: str) -> Session:
        """The session; SessionNotFoundError if it does not exist."""
        session = self.storage.load(session_id)
        if session is None:
            raise SessionNotFoundError(f"unknown session: {session_id}")
        return session


__all__ = ["SessionReader"]
