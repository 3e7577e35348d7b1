"""Housekeeping of the session core: leftovers of a crash, given-back numbers, empty sessions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sessions import FileSessionManager, FileSessionStorage, SessionState
from sessions.storage import partial_name, write_atomic
from tests.conftest import EventRecorder, add_note

# -- leftovers at start -----------------------------------------------------------------------


async def test_remove_leftovers_takes_partial_downloads_and_temp_files(
    manager: FileSessionManager, storage: FileSessionStorage, sessions_dir: Path
) -> None:
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=10)
    folder = manager.get_session_path(session.session_id)
    partial = folder / "audio" / partial_name("002_audio.ogg")
    partial.write_bytes(b"half a note")
    temps = []
    for target in (
        folder / "metadata.json",
        folder / "transcripts" / "001_audio.txt",
        folder / "process" / "input.txt",
        folder / "process" / "output" / "session.md",
        sessions_dir / ".active" / "1",
        sessions_dir / ".telegram" / "updates.json",
    ):
        target.parent.mkdir(parents=True, exist_ok=True)
        temps.append(_temp_like_write_atomic(target))
    kept = [
        folder / "audio" / "001_audio.ogg",
        folder / "metadata.json",
        folder / ".lock",
        folder / "process" / "output" / "summary.part",  # a processor's own file
        folder / "process" / "output" / ".notes.tmp",  # not write_atomic's pattern
    ]
    for path in kept:
        if not path.exists():
            path.write_bytes(b"keep")

    removed = await manager.remove_leftovers()

    assert sorted(removed) == sorted([partial, *temps])
    for path in [partial, *temps]:
        assert not path.exists()
    for path in kept:
        assert path.exists()
    assert await manager.remove_leftovers() == []  # nothing left the second time
    reloaded = await manager.require_session(session.session_id)
    assert [e.sequence for e in reloaded.audio_entries] == [1]


def _temp_like_write_atomic(target: Path) -> Path:
    """The temporary file a kill inside write_atomic leaves behind: write_atomic itself runs,
    its rename fails and its clean-up is skipped, as if the process died in between."""
    before = set(target.parent.iterdir())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", _killed)
        patch.setattr(os, "unlink", lambda path: None)
        with pytest.raises(_Killed):
            write_atomic(target, b"new content")
    [leftover] = set(target.parent.iterdir()) - before
    return leftover


class _Killed(BaseException):
    pass


def _killed(src: object, dst: object) -> None:
    raise _Killed


async def test_remove_leftovers_with_no_sessions_dir(tmp_path: Path) -> None:
    manager = FileSessionManager(FileSessionStorage(tmp_path / "absent"))
    assert await manager.remove_leftovers() == []


# -- giving a reserved number back ------------------------------------------------------------


async def test_released_last_number_is_taken_again(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=10)
    assert await manager.reserve_sequence(session.session_id, 11) == 2
    released = await manager.release_reservation(session.session_id, 11)
    assert released.reserved_sequences == {}
    assert released.next_sequence == 2
    assert await manager.reserve_sequence(session.session_id, 12) == 2  # no gap


async def test_released_number_below_later_ones_stays_a_gap(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=1)
    assert await manager.reserve_sequence(session.session_id, 10) == 1
    assert await manager.reserve_sequence(session.session_id, 11) == 2
    released = await manager.release_reservation(session.session_id, 10)
    assert released.reserved_sequences == {11: 2}
    assert released.next_sequence == 3  # note 2 keeps its number and its file name
    assert await manager.reserve_sequence(session.session_id, 12) == 3


async def test_release_leaves_recorded_notes_and_other_states_alone(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=10)
    unchanged = await manager.release_reservation(session.session_id, 10)
    assert [e.message_id for e in unchanged.audio_entries] == [10]
    assert unchanged.next_sequence == 2
    await manager.reserve_sequence(session.session_id, 11)
    await manager.finalize_session(session.session_id)
    after = await manager.release_reservation(session.session_id, 11)
    assert after.state is SessionState.TRANSCRIBING
    assert after.reserved_sequences == {11: 2}


# -- /start on an empty session ---------------------------------------------------------------


async def test_start_session_keeps_an_open_empty_session(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    first = await manager.start_session(chat_id=1)
    again = await manager.start_session(chat_id=1)
    assert again.session_id == first.session_id
    assert again.state is SessionState.COLLECTING
    assert recorder.types() == ["created"]  # nothing finalized, nothing to transcribe
    assert [s.session_id for s in await manager.list_sessions(chat_id=1)] == [first.session_id]


async def test_start_session_finalizes_one_with_notes(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    first = await manager.start_session(chat_id=1)
    await add_note(manager, first, message_id=10)
    second = await manager.start_session(chat_id=1)
    assert second.session_id != first.session_id
    old = await manager.require_session(first.session_id)
    assert old.state is SessionState.TRANSCRIBING
    assert "finalized" in recorder.types(first.session_id)
