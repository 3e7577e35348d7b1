"""FileSessionManager on real files: every method, ids, chats, idempotence, concurrency."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessions import (
    AudioEntry,
    AudioRejectedError,
    EntryNotFoundError,
    ErrorEntry,
    FileSessionManager,
    FileSessionStorage,
    InvalidStateError,
    SessionConfig,
    SessionImmutableError,
    SessionNotFoundError,
    SessionState,
    TranscriptionStatus,
)
from sessions.ids import is_valid_session_id
from tests.conftest import EventRecorder, SaveCounter, add_note

MALFORMED = ["", "..", "a/b", "/etc/passwd", "../../x", "2025-12-18_14-30-00/../..", "\x00"]


async def test_create_session_makes_folders_and_metadata(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=42)
    assert is_valid_session_id(session.session_id)
    assert session.state is SessionState.COLLECTING
    assert session.chat_id == 42
    assert session.created_at.utcoffset() is not None
    folder = manager.get_session_path(session.session_id)
    assert folder.parent == manager.storage.base_dir  # type: ignore[attr-defined]
    assert json.loads((folder / "metadata.json").read_text())["chat_id"] == 42
    assert await manager.get_session(session.session_id) == session


async def test_ids_unique_under_a_burst(manager: FileSessionManager) -> None:
    created = await asyncio.gather(*(manager.create_session(chat_id=i) for i in range(40)))
    ids = [s.session_id for s in created]
    assert len(set(ids)) == 40
    assert all(is_valid_session_id(i) for i in ids)
    listed = await manager.list_sessions(limit=100)
    assert {s.session_id for s in listed} == set(ids)


async def test_create_auto_finalizes_only_this_chats_active(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    first = await manager.create_session(chat_id=1)
    other_chat = await manager.create_session(chat_id=2)
    second = await manager.create_session(chat_id=1)

    old = await manager.get_session(first.session_id)
    assert old is not None
    assert old.state is SessionState.TRANSCRIBING
    assert old.finalized_at is not None
    untouched = await manager.get_session(other_chat.session_id)
    assert untouched is not None
    assert untouched.state is SessionState.COLLECTING
    assert (await manager.get_active_session(1)) == second
    assert (await manager.get_active_session(2)) == other_chat
    assert recorder.types(first.session_id) == ["created", "finalized", "state_changed"]


async def test_get_active_session(manager: FileSessionManager) -> None:
    assert await manager.get_active_session() is None
    assert await manager.get_active_session(5) is None
    session = await manager.create_session(chat_id=5)
    assert await manager.get_active_session() == session
    assert await manager.get_active_session(5) == session
    assert await manager.get_active_session(6) is None
    await manager.finalize_session(session.session_id)
    assert await manager.get_active_session(5) is None
    assert await manager.get_active_session() is None


async def test_ensure_active_session_creates_once(manager: FileSessionManager) -> None:
    opened = await asyncio.gather(*(manager.ensure_active_session(9) for _ in range(20)))
    assert len({s.session_id for s in opened}) == 1
    assert len(await manager.list_sessions(limit=50)) == 1


async def test_add_audio_and_sequence_order(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=3)
    s1 = await manager.reserve_sequence(session.session_id, message_id=100)
    s2 = await manager.reserve_sequence(session.session_id, message_id=101)
    assert (s1, s2) == (1, 2)
    assert await manager.reserve_sequence(session.session_id, message_id=100) == 1  # remembered

    # The second download finishes first; entries still come out in arrival order.
    audio = manager.get_session_path(session.session_id) / "audio"
    for seq, mid in ((2, 101), (1, 100)):
        (audio / f"{seq:03d}_audio.ogg").write_bytes(b"x")
        entry = AudioEntry(
            sequence=seq, filename=f"{seq:03d}_audio.ogg", duration_seconds=1.5, message_id=mid
        )
        await manager.add_audio(session.session_id, entry)
    stored = await manager.get_session(session.session_id)
    assert stored is not None
    assert [e.sequence for e in stored.audio_entries] == [1, 2]
    assert [e.message_id for e in stored.audio_entries] == [100, 101]
    assert stored.total_duration_seconds == pytest.approx(3.0)
    assert stored.reserved_sequences == {}
    assert all(e.transcription_status is TranscriptionStatus.PENDING for e in stored.audio_entries)
    assert recorder.types(session.session_id).count("audio_added") == 2
    # Once recorded, asking for the message's sequence again gives the same number.
    assert await manager.reserve_sequence(session.session_id, message_id=101) == 2
    assert await manager.reserve_sequence(session.session_id) == 3


async def test_add_audio_is_idempotent_on_message_id(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=3)
    await add_note(manager, session, message_id=77)
    again = await add_note(manager, session, message_id=77)
    assert len(again.audio_entries) == 1
    assert recorder.types(session.session_id).count("audio_added") == 1


async def test_add_audio_refusals(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=3)
    sid = session.session_id
    with pytest.raises(AudioRejectedError, match="plain"):
        await manager.add_audio(
            sid, AudioEntry(sequence=1, filename="../x.ogg", duration_seconds=1)
        )
    with pytest.raises(AudioRejectedError, match="limit"):
        await add_note(manager, session, duration=1201)
    taken = (await add_note(manager, session, message_id=1)).audio_entries[0].sequence
    (manager.get_session_path(sid) / "audio" / "009.ogg").write_bytes(b"x")
    with pytest.raises(AudioRejectedError, match="taken"):
        await manager.add_audio(
            sid, AudioEntry(sequence=taken, filename="009.ogg", duration_seconds=1)
        )
    stored = await manager.get_session(sid)
    assert stored is not None
    assert len(stored.audio_entries) == 1


async def test_add_audio_after_finalize_is_immutable(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=3)
    await add_note(manager, session, message_id=1)
    await manager.finalize_session(session.session_id)
    with pytest.raises(SessionImmutableError):
        await add_note(manager, session, message_id=2)
    with pytest.raises(InvalidStateError):  # the contract's other name for it
        await manager.reserve_sequence(session.session_id, message_id=3)
    assert issubclass(SessionImmutableError, InvalidStateError)


async def test_finalize_twice_is_refused(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=3)
    await manager.finalize_session(session.session_id)
    with pytest.raises(InvalidStateError):
        await manager.finalize_session(session.session_id)


async def test_update_transcription_status(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=3)
    await add_note(manager, session)
    await add_note(manager, session)
    sid = session.session_id
    # While collecting: a note transcribed live.
    live = await manager.update_transcription_status(sid, 1, TranscriptionStatus.IN_PROGRESS)
    assert live.state is SessionState.COLLECTING
    assert live.audio_entries[0].transcription_status is TranscriptionStatus.IN_PROGRESS
    await manager.finalize_session(sid)
    await manager.update_transcription_status(sid, 1, TranscriptionStatus.IN_PROGRESS)
    with pytest.raises(ValueError, match="transcript_filename"):
        await manager.update_transcription_status(sid, 1, TranscriptionStatus.COMPLETED)
    await manager.update_transcription_status(
        sid, 1, TranscriptionStatus.COMPLETED, "001_audio.txt"
    )
    failed = await manager.update_transcription_status(
        sid, 2, TranscriptionStatus.FAILED, error="cannot decode"
    )
    assert [e.transcription_status for e in failed.audio_entries] == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.FAILED,
    ]
    assert failed.audio_entries[0].transcript_filename == "001_audio.txt"
    assert failed.audio_entries[1].error == "cannot decode"
    with pytest.raises(EntryNotFoundError):
        await manager.update_transcription_status(sid, 9, TranscriptionStatus.FAILED)
    progress = [e.details for e in recorder.events if e.event_type == "entry_status"]
    assert progress[-1] == {
        "chat_id": 3,
        "sequence": 2,
        "status": "FAILED",
        "completed": 1,
        "failed": 1,
        "done": 2,
        "total": 2,
    }
    data = json.loads((manager.get_session_path(sid) / "metadata.json").read_text())
    assert data["audio_entries"][0]["transcription_status"] == "COMPLETED"
    assert data["audio_entries"][0]["transcript_filename"] == "001_audio.txt"


async def test_a_status_for_a_note_is_not_recorded_on_another_given_its_number(
    manager: FileSessionManager,
) -> None:
    """An undo gives a number back: a run of the removed note that names its note is refused
    on the new one, in the same write, and changes nothing."""
    session = await add_note(manager, await manager.create_session(chat_id=3), message_id=1)
    old = session.audio_entries[0]
    session = await manager.remove_entry(session.session_id, 1)
    session = await add_note(manager, session, message_id=2)
    new = session.audio_entries[0]
    assert (new.sequence, new.message_id) == (1, 2)
    with pytest.raises(EntryNotFoundError, match="another note"):
        await manager.update_transcription_status(
            session.session_id, 1, TranscriptionStatus.COMPLETED, "001_audio.txt", note=old
        )
    stored = await manager.require_session(session.session_id)
    assert stored.audio_entries[0].transcription_status is TranscriptionStatus.PENDING
    done = await manager.update_transcription_status(
        session.session_id, 1, TranscriptionStatus.COMPLETED, "001_audio.txt", note=new
    )
    assert done.audio_entries[0].transcription_status is TranscriptionStatus.COMPLETED


async def test_update_transcription_status_refused_once_the_session_ended(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=3)
    await add_note(manager, session)
    sid = session.session_id
    await manager.transition_state(sid, SessionState.ERROR)
    with pytest.raises(InvalidStateError):
        await manager.update_transcription_status(sid, 1, TranscriptionStatus.IN_PROGRESS)
    stored = await manager.require_session(sid)
    assert stored.audio_entries[0].transcription_status is TranscriptionStatus.PENDING


async def test_add_error(manager: FileSessionManager, recorder: EventRecorder) -> None:
    session = await manager.create_session(chat_id=3)
    updated = await manager.add_error(
        session.session_id, ErrorEntry(message="decode failed", code="decode", sequence=2)
    )
    assert updated.errors[0].message == "decode failed"
    assert updated.errors[0].sequence == 2
    assert "error" in recorder.types(session.session_id)


async def test_mark_delivered_is_idempotent(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=3)
    first = await manager.mark_delivered(session.session_id)
    second = await manager.mark_delivered(session.session_id)
    assert first.delivered_at is not None
    assert second.delivered_at == first.delivered_at
    assert second.outputs_delivered_at is None
    outputs = await manager.mark_outputs_delivered(session.session_id)
    again = await manager.mark_outputs_delivered(session.session_id)
    assert outputs.outputs_delivered_at is not None
    assert again.outputs_delivered_at == outputs.outputs_delivered_at


async def test_list_sessions_newest_first_per_chat_and_skips_corrupt(
    manager: FileSessionManager,
) -> None:
    made = [await manager.create_session(chat_id=i % 2) for i in range(6)]
    listed = await manager.list_sessions(limit=3)
    assert [s.session_id for s in listed] == [s.session_id for s in made[::-1][:3]]
    chat1 = await manager.list_sessions(limit=10, chat_id=1)
    assert [s.session_id for s in chat1] == [
        made[5].session_id,
        made[3].session_id,
        made[1].session_id,
    ]
    assert await manager.list_sessions(limit=0) == []

    corrupt = manager.get_session_path(made[4].session_id) / "metadata.json"
    corrupt.write_text("{ broken")
    listed = await manager.list_sessions(limit=10)
    assert made[4].session_id not in {s.session_id for s in listed}
    assert len(listed) == 5
    # The other sessions keep working.
    await add_note(manager, made[5])


async def test_sessions_in_states(manager: FileSessionManager) -> None:
    a = await manager.create_session(chat_id=1)
    b = await manager.create_session(chat_id=2)
    await manager.create_session(chat_id=3)
    await manager.finalize_session(a.session_id)
    await manager.transition_state(b.session_id, SessionState.TRANSCRIBING)
    await manager.transition_state(b.session_id, SessionState.TRANSCRIBED)
    await manager.transition_state(b.session_id, SessionState.PROCESSING)
    found = await manager.sessions_in_states(SessionState.TRANSCRIBING, SessionState.PROCESSING)
    assert [s.session_id for s in found] == [a.session_id, b.session_id]


@pytest.mark.parametrize("bad", MALFORMED)
async def test_malformed_ids_raise_not_found_everywhere(
    manager: FileSessionManager, bad: str, tmp_path: Path
) -> None:
    calls = [
        manager.get_session(bad),
        manager.finalize_session(bad),
        manager.transition_state(bad, SessionState.ERROR),
        manager.add_audio(bad, AudioEntry(sequence=1, filename="a.ogg", duration_seconds=1)),
        manager.update_transcription_status(bad, 1, TranscriptionStatus.FAILED),
        manager.add_error(bad, ErrorEntry(message="x")),
        manager.reserve_sequence(bad),
        manager.mark_delivered(bad),
    ]
    for call in calls:
        with pytest.raises(SessionNotFoundError):
            await call
    with pytest.raises(SessionNotFoundError):
        manager.get_session_path(bad)
    assert {p.name for p in tmp_path.iterdir()} <= {"sessions"}  # nothing made elsewhere


async def test_unknown_well_formed_id(manager: FileSessionManager) -> None:
    unknown = "2031-01-01_00-00-00"
    assert await manager.get_session(unknown) is None
    with pytest.raises(SessionNotFoundError):
        await manager.finalize_session(unknown)
    with pytest.raises(SessionNotFoundError):
        await manager.add_error(unknown, ErrorEntry(message="x"))
    assert not manager.get_session_path(unknown).exists()


async def test_fifty_concurrent_add_audio_lose_nothing(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=11)
    await asyncio.gather(*(add_note(manager, session, message_id=i) for i in range(50)))
    stored = await manager.get_session(session.session_id)
    assert stored is not None
    assert sorted(e.message_id or 0 for e in stored.audio_entries) == list(range(50))
    assert [e.sequence for e in stored.audio_entries] == list(range(1, 51))


def _add_in_process(base_dir: str, session_id: str, first_id: int, count: int) -> None:
    async def run() -> None:
        manager = FileSessionManager(
            FileSessionStorage(base_dir), SessionConfig(base_dir=Path(base_dir))
        )
        session = await manager.require_session(session_id)
        for offset in range(count):
            await add_note(manager, session, message_id=first_id + offset)

    asyncio.run(run())


@pytest.mark.skipif(sys.platform != "linux", reason="fcntl locks and fork start method")
async def test_two_processes_adding_at_once_lose_nothing(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    session = await manager.create_session(chat_id=12)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_add_in_process, args=(str(sessions_dir), session.session_id, n, 25))
        for n in (1000, 2000)
    ]
    for proc in procs:
        proc.start()
    await asyncio.gather(*(asyncio.to_thread(p.join, 60) for p in procs))
    assert [p.exitcode for p in procs] == [0, 0]
    stored = await manager.get_session(session.session_id)
    assert stored is not None
    ids = sorted(e.message_id or 0 for e in stored.audio_entries)
    assert ids == list(range(1000, 1025)) + list(range(2000, 2025))
    assert [e.sequence for e in stored.audio_entries] == list(range(1, 51))


async def test_queued_changes_share_one_write_and_keep_their_own_results(
    manager: FileSessionManager, saves: SaveCounter
) -> None:
    session = await manager.create_session(chat_id=13)
    before = saves.count
    sequences = await asyncio.gather(
        *(manager.reserve_sequence(session.session_id) for _ in range(30)),
        manager.finalize_session("2031-01-01_00-00-00"),  # another session: fails alone
        return_exceptions=True,
    )
    assert sequences[:30] == list(range(1, 31))  # each caller got its own number, in order
    assert isinstance(sequences[30], SessionNotFoundError)
    assert saves.count - before < 30  # group commit: far fewer writes than changes


async def test_a_refused_change_does_not_spoil_its_batch(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=14)
    results = await asyncio.gather(
        manager.reserve_sequence(session.session_id, message_id=1),
        manager.transition_state(session.session_id, SessionState.PROCESSED),  # refused
        manager.reserve_sequence(session.session_id, message_id=2),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], InvalidStateError)
    assert results[2] == 2
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.COLLECTING
    assert stored.reserved_sequences == {1: 1, 2: 2}


async def test_cancelled_batch_writer_still_settles_the_others(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=15)
    first = asyncio.ensure_future(manager.reserve_sequence(session.session_id, message_id=1))
    others = [
        asyncio.ensure_future(manager.reserve_sequence(session.session_id, message_id=m))
        for m in range(2, 6)
    ]
    await asyncio.sleep(0)  # everyone queued; the first holds the lock and writes
    first.cancel()
    assert sorted(await asyncio.wait_for(asyncio.gather(*others), 5)) == [2, 3, 4, 5]


async def test_a_deleted_sessions_id_is_not_given_again_in_its_second(
    manager: FileSessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An id names its second: without care, a session opened in the second of one just
    # deleted takes its id, and old buttons or queued jobs for the deleted one reach it.
    moment = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    monkeypatch.setattr("sessions.manager.utc_now", lambda: moment)
    first = await manager.create_session(chat_id=1)
    await manager.delete_session(first.session_id)
    second = await manager.create_session(chat_id=1)
    assert first.session_id == "2026-12-02_10-00-00"
    assert second.session_id == "2026-12-02_10-00-00_2"
    # A later second starts afresh: the memory of deleted ids does not grow.
    monkeypatch.setattr("sessions.manager.utc_now", lambda: moment + timedelta(seconds=1))
    third = await manager.create_session(chat_id=1)
    assert third.session_id == "2026-12-02_10-00-01"
