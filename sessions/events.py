"""Session events, one class per kind, and the small async bus that carries them.

Lower layers publish; upper layers (the transcription service, the bot's notifier, the
processing stage) subscribe by class and read typed fields. Every event is also logged with
structlog in the contract's form, :class:`SessionEvent` (``event_type``, ``session_id``,
``timestamp``, ``details``), bound to its session id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar, overload

import structlog
from pydantic import AwareDatetime, BaseModel, Field

from sessions.models import SessionState, TranscriptionStatus, utc_now


class SessionEvent(BaseModel):
    """The contract's form of an event: what is logged and serialised."""

    event_type: str
    session_id: str
    timestamp: AwareDatetime = Field(default_factory=utc_now)
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        value = self.details.get("chat_id")
        return value if isinstance(value, int) else None


@dataclass(frozen=True, kw_only=True)
class Event:
    """Something that happened to a session. Subclasses name the kind and its fields."""

    event_type: ClassVar[str] = "event"

    session_id: str
    chat_id: int
    timestamp: datetime = dataclasses.field(default_factory=utc_now)

    @property
    def details(self) -> dict[str, Any]:
        """The fields beyond the session id and time, as plain JSON values."""
        skip = ("session_id", "timestamp")
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in skip
        }

    def to_session_event(self) -> SessionEvent:
        """The contract's :class:`SessionEvent` for this event."""
        return SessionEvent(
            event_type=self.event_type,
            session_id=self.session_id,
            timestamp=self.timestamp,
            details=self.details,
        )


@dataclass(frozen=True, kw_only=True)
class SessionCreated(Event):
    event_type: ClassVar[str] = "created"
    auto_finalized: str | None = None  # the session finalized to make room, if any


@dataclass(frozen=True, kw_only=True)
class SessionFinalized(Event):
    event_type: ClassVar[str] = "finalized"
    entry_count: int
    total_duration_seconds: float


@dataclass(frozen=True, kw_only=True)
class AudioAdded(Event):
    event_type: ClassVar[str] = "audio_added"
    sequence: int
    filename: str
    duration_seconds: float
    entry_count: int
    total_duration_seconds: float


@dataclass(frozen=True, kw_only=True)
class StateChanged(Event):
    event_type: ClassVar[str] = "state_changed"
    from_state: SessionState
    to_state: SessionState


@dataclass(frozen=True, kw_only=True)
class ErrorAdded(Event):
    event_type: ClassVar[str] = "error"
    code: str
    message: str
    sequence: int | None = None


@dataclass(frozen=True, kw_only=True)
class EntryStatusChanged(Event):
    """One entry's transcription status changed; the counts are over the whole session."""

    event_type: ClassVar[str] = "entry_status"
    sequence: int
    status: TranscriptionStatus
    completed: int
    failed: int
    done: int
    total: int


@dataclass(frozen=True, kw_only=True)
class Delivered(Event):
    """The session's transcript reached its chat."""

    event_type: ClassVar[str] = "delivered"


@dataclass(frozen=True, kw_only=True)
class OutputsDelivered(Event):
    """The processing stage's outcome reached the session's chat."""

    event_type: ClassVar[str] = "outputs_delivered"


E = TypeVar("E", bound=Event)
EventHandler = Callable[[Event], Awaitable[None]]


class EventBus:
    """Delivers each published event to every subscriber, in subscription order.

    ``publish`` awaits the handlers, so they must be quick (put work on a queue or a task).
    A handler that raises is logged and does not stop the others or the publisher.
    """

    def __init__(self, logger: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self._handlers: list[tuple[Callable[[Any], Awaitable[None]], type[Event]]] = []
        self._log = logger or structlog.get_logger("sessions.events")

    @overload
    def subscribe(
        self, handler: Callable[[E], Awaitable[None]], kind: type[E]
    ) -> Callable[[], None]: ...

    @overload
    def subscribe(self, handler: EventHandler) -> Callable[[], None]: ...

    def subscribe(
        self, handler: Callable[[Any], Awaitable[None]], kind: type[Event] = Event
    ) -> Callable[[], None]:
        """Call ``handler`` for events of class ``kind`` (every event by default).

        Returns a function that unsubscribes.
        """
        item = (handler, kind)
        self._handlers.append(item)

        def unsubscribe() -> None:
            if item in self._handlers:
                self._handlers.remove(item)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Log ``event`` and hand it to each interested subscriber."""
        log = self._log.bind(session_id=event.session_id, event_type=event.event_type)
        log.info("session_event", **event.details)
        for handler, kind in list(self._handlers):
            if not isinstance(event, kind):
                continue
            try:
                await handler(event)
            except Exception:
                log.exception("event_handler_failed", handler=getattr(handler, "__qualname__", ""))


def _plain(value: object) -> object:
    # structlog's JSON renderer cannot serialise datetimes or enums by default.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
