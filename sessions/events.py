"""Session events, one class per kind, and the small async bus that carries them.

Lower layers publish; upper layers (the transcription service, the bot's notifier, the
processing stage) subscribe by class and read typed fields. Every event is also logged with
structlog in the contract's form, :class:`SessionEvent` (``event_type``, ``session_id``,
``timestamp``, ``details``), bound to its session id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar, overload

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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


class Event(BaseModel):
    """Something that happened to a session. Subclasses name the kind and its fields."""

    model_config = ConfigDict(frozen=True)

    event_type: ClassVar[str] = "event"

    session_id: str
    chat_id: int
    timestamp: AwareDatetime = Field(default_factory=utc_now)

    @property
    def details(self) -> dict[str, Any]:
        """The fields beyond the session id and time, as plain JSON values."""
        return self.model_dump(mode="json", exclude={"session_id", "timestamp"})

    def to_session_event(self) -> SessionEvent:
        """The contract's :class:`SessionEvent` for this event."""
        return SessionEvent(
            event_type=self.event_type,
            session_id=self.session_id,
            timestamp=self.timestamp,
            details=self.details,
        )


class SessionCreated(Event):
    """A new session opened for a chat."""

    event_type: ClassVar[str] = "created"
    auto_finalized: str | None = None  # the session finalized to make room, if any


class SessionFinalized(Event):
    """COLLECTING -> TRANSCRIBING: the session takes no more notes; sizes for progress."""

    event_type: ClassVar[str] = "finalized"
    entry_count: int
    total_duration_seconds: float


class AudioAdded(Event):
    """A note was recorded in the session.

    ``entry_count`` and ``total_duration_seconds`` are the session's after it.
    """

    event_type: ClassVar[str] = "audio_added"
    sequence: int
    filename: str
    duration_seconds: float
    entry_count: int
    total_duration_seconds: float


class StateChanged(Event):
    """The session moved from one state of the contract's table to another."""

    event_type: ClassVar[str] = "state_changed"
    from_state: SessionState
    to_state: SessionState


class ErrorAdded(Event):
    """An error entry was added to the session (``sequence``: the note, if one)."""

    event_type: ClassVar[str] = "error"
    code: str
    message: str
    sequence: int | None = None


class EntryStatusChanged(Event):
    """One entry's transcription status changed; the counts are over the whole session."""

    event_type: ClassVar[str] = "entry_status"
    sequence: int
    status: TranscriptionStatus
    completed: int
    failed: int
    done: int
    total: int


class Delivered(Event):
    """The session's transcript reached its chat."""

    event_type: ClassVar[str] = "delivered"


class OutputsDelivered(Event):
    """The processing stage's outcome reached the session's chat."""

    event_type: ClassVar[str] = "outputs_delivered"


class NotesChanged(Event):
    """A written note of the session was stored (``key``: which): whatever indexes the
    session's words (the search library) reads them again."""

    event_type: ClassVar[str] = "notes_changed"
    key: str


class EntryRemoved(Event):
    """A note was taken back out of a COLLECTING session, with its files.

    ``entry_count`` and ``total_duration_seconds`` are the session's after it.
    """

    event_type: ClassVar[str] = "entry_removed"
    sequence: int
    entry_count: int
    total_duration_seconds: float


class AudioRemoved(Event):
    """The session's audio files were deleted (its transcripts stay)."""

    event_type: ClassVar[str] = "audio_removed"
    files_removed: int


class SessionCancelled(Event):
    """The session was discarded with /cancel (after its AudioRemoved, ErrorAdded and
    StateChanged): every file of its notes' content is deleted (audio, transcripts, timed
    segments). Whatever else holds any of it (a search index, a job result kept elsewhere)
    drops it on this event. ``sequences``: the notes it had."""

    event_type: ClassVar[str] = "cancelled"
    sequences: list[int]
    files_removed: int


class SessionDeleted(Event):
    """The session's folder was deleted, everything in it; ``state``: the state it was in."""

    event_type: ClassVar[str] = "deleted"
    state: SessionState


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
