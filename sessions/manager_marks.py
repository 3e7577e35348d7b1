"""The session manager's bookkeeping: delivery marks, the processing stage's debt and the
numbers reserved for notes on their way.

A mixin of :class:`~sessions.manager.FileSessionManager` (kept apart so the manager's
module stays one concern per file); every change goes through the manager's ``_mutate``:
a locked, group-committed read-modify-write whose events are published once durable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sessions import events as ev
from sessions.models import Session, SessionState, utc_now
from sessions.recording import ensure_collecting
from sessions.state_machine import is_terminal
from sessions.write_queue import Events as _Events

if TYPE_CHECKING:
    from sessions.write_queue import Change as _Change


class SessionMarks:
    """The contract's marks and reservations, over the manager's ``_mutate``."""

    if TYPE_CHECKING:

        async def _mutate(self, session_id: str, change: _Change) -> Session: ...

    async def mark_delivered(self, session_id: str) -> Session:
        """Record that the session's transcript reached the chat (idempotent)."""
        return await self._stamp_once(session_id, "delivered_at", ev.Delivered)

    async def mark_outputs_delivered(self, session_id: str) -> Session:
        """Record that the processing stage's outcome reached the chat (idempotent)."""
        return await self._stamp_once(session_id, "outputs_delivered_at", ev.OutputsDelivered)

    async def record_delivery(
        self, session_id: str, part: str, refused: str | None = None
    ) -> Session:
        """Record that one part of the delivery reached the chat, or (with ``refused``, the
        reason) that Telegram refused it for good. Idempotent."""

        def change(session: Session) -> _Events | None:
            progress = session.delivery
            if refused is None:
                if part in progress.sent:
                    return None
                progress.sent.append(part)
            else:
                if part in progress.refused:
                    return None
                progress.refused[part] = refused
            return []

        return await self._mutate(session_id, change)

    async def mark_processing_due(self, session_id: str) -> Session:
        """Record that the processing stage owes the session a run (idempotent).

        Only a session on its way to TRANSCRIBED (or there) is marked; later states already
        say what processing did.
        """

        def change(session: Session) -> _Events | None:
            due = (SessionState.TRANSCRIBING, SessionState.TRANSCRIBED)
            if session.processing_due or session.state not in due:
                return None
            session.processing_due = True
            return []

        return await self._mutate(session_id, change)

    async def clear_processing_due(self, session_id: str) -> Session:
        """Clear ``processing_due`` of a PROCESSED or ERROR session (idempotent): a marker
        that sessions written before it was cleared on arrival there still carry. A session
        in any other state keeps it: it may still be owed its run."""

        def change(session: Session) -> _Events | None:
            if not session.processing_due or not is_terminal(session.state):
                return None
            session.processing_due = False
            return []

        return await self._mutate(session_id, change)

    async def _stamp_once(
        self, session_id: str, field: str, event: Callable[..., ev.Event]
    ) -> Session:
        def change(session: Session) -> _Events | None:
            if getattr(session, field) is not None:
                return None
            setattr(session, field, utc_now())
            return [event]

        return await self._mutate(session_id, change)

    # -- numbers for notes on their way ------------------------------------------------------

    async def reserve_sequence(self, session_id: str, message_id: int | None = None) -> int:
        """Take the next sequence number, in the order calls arrive.

        With a ``message_id`` the reservation is remembered: asking again for the same
        message (a redelivered update, a retry after a crash) returns the same number.
        """
        sequence, _ = await self.reserve(session_id, message_id)
        return sequence

    async def reserve(self, session_id: str, message_id: int | None = None) -> tuple[int, Session]:
        """:meth:`reserve_sequence`, also returning the session as saved.

        ``session.entry_for_message(message_id)`` then tells whether the message is already
        recorded. The request joins the session's write queue before this coroutine first
        suspends, so reservations started in some order are numbered in that order.
        """
        taken: list[int] = []

        def change(session: Session) -> _Events | None:
            ensure_collecting(session)
            if message_id is not None:
                existing = session.entry_for_message(message_id)
                if existing is not None:
                    taken.append(existing.sequence)
                    return None
                if message_id in session.reserved_sequences:
                    taken.append(session.reserved_sequences[message_id])
                    return None
                session.reserved_sequences[message_id] = session.next_sequence
            taken.append(session.next_sequence)
            session.next_sequence += 1
            return []

        session = await self._mutate(session_id, change)
        return taken[0], session

    async def release_reservation(self, session_id: str, message_id: int) -> Session:
        """Give back the number reserved for a message that will not be recorded after all.

        When it is the last number handed out, it is taken back, so the next note gets it
        and the session's numbering stays without gaps; when later notes already hold
        later numbers, it stays a gap (renumbering them would rename files in flight).
        Does nothing for a message already recorded, or a session no longer COLLECTING.
        """

        def change(session: Session) -> _Events | None:
            if session.state is not SessionState.COLLECTING:
                return None
            if session.entry_for_message(message_id) is not None:
                return None
            sequence = session.reserved_sequences.pop(message_id, None)
            if sequence is None:
                return None
            if sequence == session.next_sequence - 1 and session.entry(sequence) is None:
                session.next_sequence = sequence
            return []

        return await self._mutate(session_id, change)


__all__ = ["SessionMarks"]
