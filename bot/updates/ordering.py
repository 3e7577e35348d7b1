"""Per-chat ordering of updates that are handled concurrently.

Voice notes of one chat download in parallel, but they must take sequence numbers in the
order they were sent, and a command (``/done``, ``/start``) must see every earlier voice
note of its chat stored, and be seen by every later one. The poller issues a
:class:`Ticket` per update, in update order, before any handler runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(eq=False)
class Ticket:
    """An update's place in its chat's queue."""

    chat_id: int | None
    update_id: int
    exclusive: bool
    admitted: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def admit(self) -> None:
        """The ordered part of a shared update is done; later updates may start theirs."""
        if not self.exclusive:
            self.admitted.set()


class ChatOrdering:
    """Hands out tickets and makes handlers wait for their turn.

    - A shared ticket (a voice note) waits until every earlier ticket of its chat was
      admitted, i.e. has taken its sequence number, or finished if it was exclusive.
    - An exclusive ticket (a command) waits until every earlier ticket of its chat has
      finished, and holds back every later one until it finishes itself.
    """

    def __init__(self) -> None:
        self._queues: dict[int, list[Ticket]] = {}

    def issue(self, chat_id: int | None, update_id: int, *, exclusive: bool) -> Ticket:
        """A ticket for an update; call in update order (no awaits in between)."""
        ticket = Ticket(chat_id=chat_id, update_id=update_id, exclusive=exclusive)
        if chat_id is not None:
            self._queues.setdefault(chat_id, []).append(ticket)
        return ticket

    async def wait_turn(self, ticket: Ticket) -> None:
        if ticket.chat_id is None:
            return
        queue = self._queues.get(ticket.chat_id, [])
        earlier = queue[: queue.index(ticket)] if ticket in queue else []
        for other in earlier:
            if ticket.exclusive or other.exclusive:
                await other.finished.wait()
            else:
                await other.admitted.wait()

    def finish(self, ticket: Ticket) -> None:
        """The update is fully handled (idempotent)."""
        ticket.admitted.set()
        ticket.finished.set()
        if ticket.chat_id is None:
            return
        queue = self._queues.get(ticket.chat_id)
        if queue is not None and ticket in queue:
            queue.remove(ticket)
            if not queue:
                del self._queues[ticket.chat_id]
