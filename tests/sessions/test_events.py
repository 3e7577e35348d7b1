"""The event bus: typed events, delivery by class, failing handlers, unsubscribe, logging."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from sessions import (
    EntryStatusChanged,
    ErrorAdded,
    Event,
    EventBus,
    SessionCreated,
    SessionEvent,
    SessionFinalized,
    SessionState,
    StateChanged,
    TranscriptionStatus,
)

SID = "2025-01-01_00-00-00"


async def test_bus_delivers_by_class_and_survives_failing_handler() -> None:
    bus = EventBus()
    seen: list[str] = []
    finalized: list[int] = []

    async def boom(event: Event) -> None:
        raise RuntimeError("handler bug")

    async def record(event: Event) -> None:
        seen.append(event.event_type)

    async def record_finalized(event: SessionFinalized) -> None:
        finalized.append(event.entry_count)  # a typed field, no dict

    bus.subscribe(boom)
    unsubscribe = bus.subscribe(record)
    bus.subscribe(record_finalized, SessionFinalized)

    with structlog.testing.capture_logs() as logs:
        await bus.publish(SessionCreated(session_id=SID, chat_id=1))
        await bus.publish(
            SessionFinalized(session_id=SID, chat_id=1, entry_count=2, total_duration_seconds=3)
        )
    unsubscribe()
    await bus.publish(ErrorAdded(session_id=SID, chat_id=1, code="x", message="y"))

    assert seen == ["created", "finalized"]
    assert finalized == [2]
    logged = [e for e in logs if e["event"] == "session_event"]
    assert [e["event_type"] for e in logged] == ["created", "finalized"]
    assert all(e["session_id"] == SID for e in logged)
    assert logged[1]["entry_count"] == 2
    assert sum(e["event"] == "event_handler_failed" for e in logs) == 2


def test_typed_events_convert_to_the_contracts_session_event() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    changed = StateChanged(
        session_id=SID,
        chat_id=5,
        timestamp=at,
        from_state=SessionState.COLLECTING,
        to_state=SessionState.TRANSCRIBING,
    )
    event = changed.to_session_event()
    assert event == SessionEvent(
        event_type="state_changed",
        session_id=SID,
        timestamp=at,
        details={"chat_id": 5, "from_state": "COLLECTING", "to_state": "TRANSCRIBING"},
    )
    assert event.chat_id == 5
    status = EntryStatusChanged(
        session_id=SID,
        chat_id=5,
        sequence=1,
        status=TranscriptionStatus.COMPLETED,
        completed=1,
        failed=0,
        done=1,
        total=2,
    )
    assert status.to_session_event().details["status"] == "COMPLETED"
    # The serialised form round-trips as JSON, as the contract's SessionEvent.
    assert SessionEvent.model_validate_json(event.model_dump_json()) == event


def test_event_chat_id() -> None:
    event = SessionEvent(event_type="created", session_id="x", details={"chat_id": 5})
    assert event.chat_id == 5
    assert SessionEvent(event_type="created", session_id="x").chat_id is None
