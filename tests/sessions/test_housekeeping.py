"""Housekeeping of the session core: leftovers of a crash, deletions that fail, given-back
numbers, empty sessions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from library import RetentionSettings, RetentionSweeper
from sessions import FileSessionManager, FileSessionStorage, SessionState
from sessions.atomic import write_atomic
from sessions.storage import partial_name
from tests.conftest import EventRecorder, add_note
from tests.sessions.helpers import transcribed
from tests.undeletable import undeletable

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


# -- deletions that fail ------------------------------------------------------------------------


async def test_a_session_whose_files_cannot_all_be_removed_is_still_deleted(
    manager: FileSessionManager, sessions_dir: Path, recorder: EventRecorder
) -> None:
    """A read-only folder a processor left: the session goes (moved out in one step), what
    cannot be removed waits in the trash, logged, and goes at the next try."""
    session = await transcribed(manager)
    sid = session.session_id
    output = manager.get_session_path(sid) / "process" / "output"
    (output / "summary.md").write_text("made by a command: processor")
    with undeletable(sessions_dir) as locks:
        locks.lock(output)
        with capture_logs() as logs:
            await manager.delete_session(sid)
            assert await manager.empty_trash() == []  # still locked: logged, not raised
            assert await manager.remove_leftovers() == []  # at start: the same
        assert await manager.get_session(sid) is None
        assert recorder.types(sid)[-1] == "deleted"
        [left] = os.listdir(sessions_dir / ".trash")
        warned = [e for e in logs if e["event"] == "trash_not_emptied"]
        assert len(warned) == 3
        assert all(e["log_level"] == "warning" for e in warned)
    assert await manager.empty_trash() == [sessions_dir / ".trash" / left]
    assert os.listdir(sessions_dir / ".trash") == []


async def test_leftovers_that_cannot_be_removed_never_stop_a_start(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    trash = sessions_dir / ".trash"
    stuck, gone = trash / "2026-01-01_00-00-00.0123abcd", trash / "2026-01-02_00-00-00.4567cdef"
    for folder in (stuck, gone):
        (folder / "output").mkdir(parents=True)
        (folder / "output" / "summary.md").write_text("read-only")
    session = await manager.create_session(chat_id=1)
    partial = manager.get_session_path(session.session_id) / "audio" / partial_name("1.ogg")
    partial.write_bytes(b"half a note")
    with undeletable(sessions_dir) as locks:
        locks.lock(stuck / "output")
        locks.lock(partial.parent)
        removed = await manager.remove_leftovers()
        assert removed == [gone]
        assert stuck.exists()
        assert partial.exists()
    assert sorted(await manager.remove_leftovers()) == sorted([stuck, partial])


async def test_a_session_folder_that_cannot_be_moved_is_kept_whole(
    manager: FileSessionManager, sessions_dir: Path, recorder: EventRecorder
) -> None:
    session = await transcribed(manager)
    sid = session.session_id
    with undeletable(sessions_dir) as locks:
        locks.lock(manager.get_session_path(sid))
        with pytest.raises(PermissionError):
            await manager.delete_session(sid)
    assert await manager.require_session(sid) == session
    assert "deleted" not in recorder.types(sid)


async def test_every_retention_sweep_tries_the_trash_again(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    left = sessions_dir / ".trash" / "2026-01-01_00-00-00.0123abcd"
    left.mkdir(parents=True)
    (left / "summary.md").write_text("read-only")
    sweeper = RetentionSweeper(manager, RetentionSettings(session_retention_days=30))
    with undeletable(sessions_dir) as locks:
        locks.lock(left)
        await sweeper.sweep()
        assert left.exists()
    await sweeper.sweep()
    assert not left.exists()
