"""The event bus: delivery, filtering, failing handlers, unsubscribe, logging."""

from __future__ import annotations

import structlog

from sessions import EventBus, SessionEvent


async def test_bus_delivers_filters_and_survives_failing_handler() -> None:
    bus = EventBus()
    seen: list[str] = []
    finalized_only: list[str] = []

    async def boom(event: SessionEvent) -> None:
        raise RuntimeError("handler bug")

    async def record(event: SessionEvent) -> None:
        seen.append(event.event_type)

    async def record_finalized(event: SessionEvent) -> None:
        finalized_only.append(event.session_id)

    bus.subscribe(boom)
    unsubscribe = bus.subscribe(record)
    bus.subscribe(record_finalized, "finalized")

    with structlog.testing.capture_logs() as logs:
        await bus.emit("created", "2025-01-01_00-00-00", chat_id=1)
        await bus.emit("finalized", "2025-01-01_00-00-00", chat_id=1)
    unsubscribe()
    await bus.emit("error", "2025-01-01_00-00-00")

    assert seen == ["created", "finalized"]
    assert finalized_only == ["2025-01-01_00-00-00"]
    logged = [e for e in logs if e["event"] == "session_event"]
    assert [e["event_type"] for e in logged] == ["created", "finalized"]
    assert all(e["session_id"] == "2025-01-01_00-00-00" for e in logged)
    assert sum(e["event"] == "event_handler_failed" for e in logs) == 2


def test_event_chat_id() -> None:
    event = SessionEvent(event_type="created", session_id="x", details={"chat_id": 5})
    assert event.chat_id == 5
    assert SessionEvent(event_type="created", session_id="x").chat_id is None
