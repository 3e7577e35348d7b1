"""The note after a chat's open session went (/forget, /forget all, /cancel, another tool)
opens a new session, whatever the ingest service had cached. In-process dispatcher, real
session folders, downloads over real HTTP from the fake Bot API."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from bot import texts
from tests.bot.test_ingest_faults import SPEECH_01, Harness, harness

pytestmark = pytest.mark.timeout(30)

__all__ = ["harness"]  # the fixture, shared


async def first_note(h: Harness) -> str:
    await h.voice(SPEECH_01, duration=3)
    return (await h.session()).session_id


async def assert_next_note_opens_a_session(h: Harness, gone: str | None = None) -> str:
    """The next note is stored, as note 1 of a new session; its id."""
    await h.voice(SPEECH_01, duration=3)
    assert h.replies()[-1] == texts.collecting(1, 3)
    session = await h.session()
    assert [e.sequence for e in session.audio_entries] == [1]
    if gone is not None:
        assert (await h.manager.get_session(gone)) in (None, session)
    return session.session_id


async def assert_next_note_goes_on(h: Harness) -> None:
    await h.voice(SPEECH_01, duration=3)
    assert [e.sequence for e in (await h.session()).audio_entries] == [1, 2]


async def test_a_note_after_its_session_was_deleted_unseen_opens_a_new_one(
    harness: Harness,
) -> None:
    """No event of the deletion reaches the service (another process deleted it)."""
    gone = await first_note(harness)
    await harness.manager.delete_session(gone)
    with capture_logs() as logs:
        await assert_next_note_opens_a_session(harness, gone)
    assert [e["event"] for e in logs if e["event"] == "cached_session_gone"] == [
        "cached_session_gone"
    ]
    await assert_next_note_goes_on(harness)


async def test_start_after_an_unseen_deletion_gets_the_next_note(harness: Harness) -> None:
    gone = await first_note(harness)
    await harness.manager.delete_session(gone)
    started = await harness.manager.start_session(1001)
    assert await assert_next_note_opens_a_session(harness) == started.session_id


async def test_a_note_after_its_session_became_unreadable_opens_a_new_one(
    harness: Harness,
) -> None:
    broken = await first_note(harness)
    (harness.manager.get_session_path(broken) / "metadata.json").write_text("{not json")
    assert await assert_next_note_opens_a_session(harness) != broken


@pytest.mark.parametrize("how", ["deleted", "cancelled"])
async def test_the_events_drop_the_cached_session_at_once(harness: Harness, how: str) -> None:
    harness.ingest.attach()
    gone = await first_note(harness)
    if how == "deleted":
        await harness.manager.delete_session(gone)
    else:
        await harness.manager.cancel_session(gone)
    with capture_logs() as logs:
        await assert_next_note_opens_a_session(harness)
    assert not [e for e in logs if e["event"] == "cached_session_gone"]
