"""Deleting a chat's sessions, for /forget and /forget all."""

from __future__ import annotations

import contextlib
from enum import StrEnum

import structlog

from library.index import SessionLibrary
from sessions import InvalidStateError, SessionError, SessionManager, SessionNotFoundError
from sessions import SessionState as State

_log = structlog.get_logger("bot.forgetting")

EVERY_SESSION = 1_000_000
"""``list_sessions``' limit when every session of a chat is wanted."""
BUSY = (State.TRANSCRIBING, State.PROCESSING)
"""A session in these states is being worked on: it is not deleted under the worker."""


class Outcome(StrEnum):
    """What became of one session asked to be forgotten."""

    DELETED = "deleted"  # also: it was gone already (retention)
    BUSY = "busy"  # being transcribed or processed: kept
    FAILED = "failed"  # the search index or the session's files failed: kept (logged)


async def forget_session(
    manager: SessionManager, library: SessionLibrary, session_id: str
) -> Outcome:
    """Delete the session and its notes in the search index, unless it is being worked on
    (its state is read just before, and checked again in the deletion's own step) or the
    index or its files fail; then it is kept. A session gone meanwhile counts as deleted."""
    try:
        session = await manager.get_session(session_id)
        if session is None:
            return Outcome.DELETED
        if session.state in BUSY:
            return Outcome.BUSY
        # The index first: once the chat reads "forgotten", /find cannot find it, and an
        # index that fails keeps the session whole.
        await library.remove_session(session_id)
        try:
            await manager.delete_session(session_id, unless_in=BUSY)
        except InvalidStateError:  # work began on it just now: searchable again
            await _index_again(library, session_id)
            return Outcome.BUSY
        except OSError as exc:  # its folder cannot be moved away: kept whole, searchable
            _log.warning("session_not_forgotten", session_id=session_id, error=str(exc))
            await _index_again(library, session_id)
            return Outcome.FAILED
    except SessionNotFoundError:
        return Outcome.DELETED
    except SessionError as exc:  # LibraryError, CorruptSessionError: their texts hold no notes
        _log.warning("session_not_forgotten", session_id=session_id, error=str(exc))
        return Outcome.FAILED
    return Outcome.DELETED


async def _index_again(library: SessionLibrary, session_id: str) -> None:
    with contextlib.suppress(SessionError):
        await library.index_session(session_id)


__all__ = ["BUSY", "EVERY_SESSION", "Outcome", "forget_session"]
