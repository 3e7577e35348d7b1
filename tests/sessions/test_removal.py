"""Taking things back, on real folders: a note, a whole open session, audio, a session."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from sessions import (
    EntryNotFoundError,
    ErrorEntry,
    FileSessionManager,
    FileSessionStorage,
    InvalidStateError,
    SessionNotFoundError,
    SessionState,
    Transcript,
    TranscriptionStatus,
)
from tests.conftest import EventRecorder, add_note
from tests.sessions.helpers import transcribed


def files(folder: Path, sub: str) -> list[str]:
    return sorted(os.listdir(folder / sub))


# -- remove_entry ----------------------------------------------------------------------------


async def test_remove_entry_deletes_its_files_and_gives_back_the_last_number(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=1)
    for message_id in (11, 12, 13):
        session = await add_note(manager, session, message_id=message_id, duration=3.0)
    sid = session.session_id
    folder = manager.get_session_path(sid)
    # A transcript already there (live transcription writes them while collecting).
    manager.folder(sid).write_transcript(3, Transcript(text="oops"))

    after = await manager.remove_entry(sid, 3)

    assert [e.sequence for e in after.audio_entries] == [1, 2]
    assert files(folder, "audio") == ["001_audio.ogg", "002_audio.ogg"]
    assert files(folder, "transcripts") == []
    assert 13 not in after.reserved_sequences
    assert await manager.require_session(sid) == after
    removed = [e for e in recorder.events if e.event_type == "entry_removed"]
    assert [(e.details["sequence"], e.details["entry_count"]) for e in removed] == [(3, 2)]
    assert removed[0].details["total_duration_seconds"] == 6.0
    assert removed[0].chat_id == 1
    again = await add_note(manager, after, message_id=14)
    assert [e.sequence for e in again.audio_entries] == [1, 2, 3]  # number 3 was given back


async def test_removing_a_note_in_the_middle_leaves_a_gap(manager: FileSessionManager) -> None:
    session = await manager.create_session(chat_id=1)
    for _ in range(3):
        session = await add_note(manager, session)
    after = await manager.remove_entry(session.session_id, 2)
    assert [e.sequence for e in after.audio_entries] == [1, 3]
    assert files(manager.get_session_path(session.session_id), "audio") == [
        "001_audio.ogg",
        "003_audio.ogg",
    ]
    again = await add_note(manager, after)
    assert [e.sequence for e in again.audio_entries] == [1, 3, 4]


async def test_remove_entry_is_refused_outside_collecting_and_for_unknown_notes(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=1)
    session = await add_note(manager, session)
    sid = session.session_id
    with pytest.raises(EntryNotFoundError):
        await manager.remove_entry(sid, 2)
    with pytest.raises(SessionNotFoundError):
        await manager.remove_entry("2020-01-01_00-00-00", 1)
    await manager.finalize_session(sid)
    with pytest.raises(InvalidStateError):
        await manager.remove_entry(sid, 1)
    assert files(manager.get_session_path(sid), "audio") == ["001_audio.ogg"]
    assert len((await manager.require_session(sid)).audio_entries) == 1


# -- cancel_session --------------------------------------------------------------------------


async def test_cancel_deletes_the_audio_and_ends_in_error(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=5)
    for _ in range(2):
        session = await add_note(manager, session)
    sid = session.session_id

    cancelled = await manager.cancel_session(sid)

    assert cancelled.state is SessionState.ERROR
    assert [e.code for e in cancelled.errors] == ["cancelled"]
    assert cancelled.audio_removed_at is not None
    assert files(manager.get_session_path(sid), "audio") == []
    assert await manager.require_session(sid) == cancelled
    assert await manager.get_active_session(5) is None
    assert recorder.types(sid)[-4:] == ["audio_removed", "error", "state_changed", "cancelled"]
    assert recorder.events[-2].details["to_state"] == "ERROR"
    assert recorder.events[-4].details["files_removed"] == 2
    assert recorder.events[-1].details == {"chat_id": 5, "sequences": [1, 2], "files_removed": 2}
    with pytest.raises(InvalidStateError):
        await manager.cancel_session(sid)


async def test_cancel_deletes_the_words_of_notes_transcribed_live(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await manager.create_session(chat_id=5)
    for _ in range(3):
        session = await add_note(manager, session)
    sid = session.session_id
    folder = manager.folder(sid)
    for sequence in (1, 2):  # transcribed live; note 3 not yet
        name = folder.write_transcript(sequence, Transcript(text=f"secret words {sequence}"))
        await manager.update_transcription_status(
            sid, sequence, TranscriptionStatus.COMPLETED, name
        )
    assert len(files(folder.path, "transcripts")) == 4  # texts and timed segments

    await manager.cancel_session(sid)

    assert files(folder.path, "audio") == []
    assert files(folder.path, "transcripts") == []
    assert "secret" not in (folder.path / "metadata.json").read_text()
    assert recorder.events[-1].event_type == "cancelled"
    assert recorder.events[-1].details["files_removed"] == 7


async def test_cancel_is_refused_once_finalized(manager: FileSessionManager) -> None:
    session = await add_note(manager, await manager.create_session(chat_id=5))
    await manager.finalize_session(session.session_id)
    with pytest.raises(InvalidStateError):
        await manager.cancel_session(session.session_id)
    assert files(manager.get_session_path(session.session_id), "audio") == ["001_audio.ogg"]


# -- remove_audio ----------------------------------------------------------------------------


async def test_remove_audio_keeps_the_transcripts(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    session = await transcribed(manager)
    sid = session.session_id
    folder = manager.get_session_path(sid)

    after = await manager.remove_audio(sid)

    assert files(folder, "audio") == []
    assert "001_audio.txt" in files(folder, "transcripts")
    assert manager.folder(sid).read_transcript_text(2) == "words of note 2"
    assert after.audio_removed_at is not None
    assert after.state is SessionState.TRANSCRIBED
    assert recorder.types(sid)[-1] == "audio_removed"
    assert recorder.events[-1].details["files_removed"] == 2
    count = len(recorder.events)
    again = await manager.remove_audio(sid)  # nothing left: no change, no event
    assert again.audio_removed_at == after.audio_removed_at
    assert len(recorder.events) == count


@pytest.mark.parametrize("state", [SessionState.PROCESSED, SessionState.ERROR])
async def test_remove_audio_in_later_states(
    manager: FileSessionManager, state: SessionState
) -> None:
    session = await transcribed(manager)
    sid = session.session_id
    if state is SessionState.PROCESSED:
        await manager.transition_state(sid, SessionState.PROCESSING)
    await manager.transition_state(sid, state)
    assert (await manager.remove_audio(sid)).audio_removed_at is not None
    assert files(manager.get_session_path(sid), "audio") == []


async def test_remove_audio_is_refused_while_work_may_need_it(
    manager: FileSessionManager,
) -> None:
    session = await add_note(manager, await manager.create_session(chat_id=1))
    sid = session.session_id
    with pytest.raises(InvalidStateError):  # COLLECTING
        await manager.remove_audio(sid)
    await manager.finalize_session(sid)
    with pytest.raises(InvalidStateError):  # TRANSCRIBING
        await manager.remove_audio(sid)
    assert files(manager.get_session_path(sid), "audio") == ["001_audio.ogg"]
    assert (await manager.require_session(sid)).audio_removed_at is None


async def test_a_session_without_its_audio_is_never_transcribed_again(
    manager: FileSessionManager,
) -> None:
    session = await transcribed(manager)
    sid = session.session_id
    await manager.transition_state(sid, SessionState.ERROR)
    await manager.remove_audio(sid)
    assert await manager.sessions_in_states(SessionState.TRANSCRIBING) == []
    with pytest.raises(InvalidStateError):
        await manager.transition_state(sid, SessionState.TRANSCRIBING)
    with pytest.raises(InvalidStateError):
        await manager.update_transcription_status(sid, 1, TranscriptionStatus.IN_PROGRESS)


# -- delete_session --------------------------------------------------------------------------


@pytest.mark.parametrize("state", [SessionState.COLLECTING, SessionState.TRANSCRIBED])
async def test_delete_session_leaves_nothing(
    manager: FileSessionManager,
    recorder: EventRecorder,
    sessions_dir: Path,
    state: SessionState,
) -> None:
    if state is SessionState.COLLECTING:
        session = await add_note(manager, await manager.create_session(chat_id=-100))
    else:
        session = await transcribed(manager, chat_id=-100)
    keep = await manager.create_session(chat_id=8)
    sid = session.session_id

    await manager.delete_session(sid)

    assert not manager.get_session_path(sid).exists()
    assert await manager.get_session(sid) is None
    assert [s.session_id for s in await manager.list_sessions(chat_id=-100)] == []
    assert await manager.get_active_session(-100) is None
    assert await manager.require_session(keep.session_id) == keep
    assert os.listdir(sessions_dir / ".trash") == []
    assert recorder.types(sid)[-1] == "deleted"
    assert recorder.events[-1].chat_id == -100
    assert recorder.events[-1].details["state"] == state.value
    with pytest.raises(SessionNotFoundError):
        await manager.delete_session(sid)
    with pytest.raises(SessionNotFoundError):
        await manager.add_error(sid, ErrorEntry(message="late"))
    assert not manager.get_session_path(sid).exists()  # a late write recreates nothing


async def test_delete_unless_in_a_state_keeps_a_session_in_it(
    manager: FileSessionManager,
) -> None:
    busy = (SessionState.TRANSCRIBING, SessionState.PROCESSING)
    session = await transcribed(manager)
    sid = session.session_id
    await manager.transition_state(sid, SessionState.PROCESSING)
    with pytest.raises(InvalidStateError):
        await manager.delete_session(sid, unless_in=busy)
    assert (await manager.require_session(sid)).state is SessionState.PROCESSING
    await manager.transition_state(sid, SessionState.PROCESSED)
    await manager.delete_session(sid, unless_in=busy)
    assert await manager.get_session(sid) is None


@pytest.mark.parametrize("bad", ["2020-01-01_00-00-00", "../x", ".trash", ""])
async def test_delete_unknown_session(manager: FileSessionManager, bad: str) -> None:
    await manager.create_session(chat_id=1)
    with pytest.raises(SessionNotFoundError):
        await manager.delete_session(bad)
    assert len(await manager.list_sessions()) == 1


async def test_a_change_queued_behind_a_delete_fails_cleanly(manager: FileSessionManager) -> None:
    session = await transcribed(manager)
    sid = session.session_id
    deleted, late = await asyncio.gather(
        manager.delete_session(sid),
        manager.mark_delivered(sid),
        return_exceptions=True,
    )
    assert deleted is None
    assert isinstance(late, SessionNotFoundError)
    assert not manager.get_session_path(sid).exists()


async def test_a_delete_cut_off_after_the_rename_leaves_no_session(
    manager: FileSessionManager,
    storage: FileSessionStorage,
    sessions_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = await transcribed(manager)
    sid = session.session_id

    class PowerCut(BaseException):
        """The process stops right there (not an error anything handles)."""

    def crash(path: object, **options: object) -> None:
        raise PowerCut

    monkeypatch.setattr("sessions.storage.shutil.rmtree", crash)
    with pytest.raises(PowerCut):
        await manager.delete_session(sid)
    monkeypatch.undo()

    assert await manager.get_session(sid) is None  # only the trash holds it
    assert await manager.list_sessions() == []
    [left] = os.listdir(sessions_dir / ".trash")
    removed = await manager.remove_leftovers()
    assert removed == [sessions_dir / ".trash" / left]
    assert os.listdir(sessions_dir / ".trash") == []


async def test_a_delete_cut_off_before_the_rename_leaves_the_session(
    manager: FileSessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await transcribed(manager)
    sid = session.session_id

    def crash(source: object, target: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("sessions.storage.os.rename", crash)
    with pytest.raises(OSError, match="power cut"):
        await manager.delete_session(sid)
    monkeypatch.undo()
    assert await manager.require_session(sid) == session
    assert len(files(manager.get_session_path(sid), "audio")) == 2


# -- list_sessions paging ----------------------------------------------------------------------


async def test_list_sessions_pages_with_an_offset(manager: FileSessionManager) -> None:
    mine = []
    for n in range(5):
        mine.append((await manager.create_session(chat_id=1)).session_id)
        await manager.create_session(chat_id=100 + n)  # other chats in between
    newest_first = list(reversed(mine))

    pages = [
        [s.session_id for s in await manager.list_sessions(2, chat_id=1, offset=offset)]
        for offset in (0, 2, 4, 6)
    ]

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    everyone = await manager.list_sessions(100)
    assert [s.session_id for s in await manager.list_sessions(3, offset=7)] == [
        s.session_id for s in everyone[7:10]
    ]


# -- housekeeping ------------------------------------------------------------------------------


async def test_leftovers_leave_the_search_index_alone(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    library = sessions_dir / ".library"
    library.mkdir(parents=True)
    kept = [library / "library.sqlite3", library / ".library.sqlite3.abcd1234.tmp"]
    for path in kept:
        path.write_bytes(b"index")
    assert await manager.remove_leftovers() == []
    assert all(path.exists() for path in kept)


async def test_a_processor_finishing_after_a_delete_brings_nothing_back(
    manager: FileSessionManager,
) -> None:
    session = await transcribed(manager)
    folder = manager.folder(session.session_id)
    await manager.delete_session(session.session_id)
    for late_write in (
        lambda: folder.write_output("session.md", b"late"),
        folder.clear_output,
        folder.open_processor_log,
    ):
        with pytest.raises(FileNotFoundError):
            late_write()
    assert not folder.path.exists()
