"""Session events and the small async bus that carries them to subscribers.

Lower layers publish; upper layers (the transcription worker, the bot's notifier)
subscribe. Every event is also logged with structlog, bound to its session id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from pydantic import AwareDatetime, BaseModel, Field

from sessions.models import utc_now

EventHandler = Callable[["SessionEvent"], Awaitable[None]]

# Event types the session core emits. Other layers may publish their own
# (e.g. "transcription_progress") on the same bus.
CREATED = "created"
FINALIZED = "finalized"
AUDIO_ADDED = "audio_added"
STATE_CHANGED = "state_changed"
ERROR = "error"
ENTRY_STATUS = "entry_status"


class SessionEvent(BaseModel):
    """Something that happened to a session."""

    event_type: str
    session_id: str
    timestamp: AwareDatetime = Field(default_factory=utc_now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        value = self.details.get("chat_id")
        return value if isinstance(value, int) else None


class EventBus:
    """Delivers each published event to every subscriber, in subscription order.

    ``publish`` awaits the handlers, so they must be quick (put work on a queue or a task).
    A handler that raises is logged and does not stop the others or the publisher.
    """

    def __init__(self, logger: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self._handlers: list[tuple[EventHandler, frozenset[str] | None]] = []
        self._log = logger or structlog.get_logger("sessions.events")

    def subscribe(self, handler: EventHandler, *event_types: str) -> Callable[[], None]:
        """Call ``handler`` for events of ``event_types`` (all when none given).

        Returns a function that unsubscribes.
        """
        item = (handler, frozenset(event_types) or None)
        self._handlers.append(item)

        def unsubscribe() -> None:
            if item in self._handlers:
                self._handlers.remove(item)

        return unsubscribe

    async def publish(self, event: SessionEvent) -> None:
        """Log ``event`` and hand it to each interested subscriber."""
        log = self._log.bind(session_id=event.session_id, event_type=event.event_type)
        log.info("session_event", **_loggable(event.details))
        for handler, types in list(self._handlers):
            if types is not None and event.event_type not in types:
                continue
            try:
                await handler(event)
            except Exception:
                log.exception("event_handler_failed", handler=getattr(handler, "__qualname__", ""))

    async def emit(self, event_type: str, session_id: str, **details: Any) -> None:
        """Shorthand for publishing a new :class:`SessionEvent`."""
        await self.publish(
            SessionEvent(event_type=event_type, session_id=session_id, details=details)
        )


def _loggable(details: dict[str, Any]) -> dict[str, Any]:
    # structlog's JSON renderer cannot serialise datetimes by default.
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in details.items()}
