"""A chat that got a new id (a group upgraded to a supergroup): its sessions, open session
and settings move to the new id, on real files, idempotently, and a move cut off by a crash
is finished by moving again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from library import SessionLibrary, library_path
from sessions import (
    ChatSettings,
    EventBus,
    FileSessionManager,
    FileSessionStorage,
    Session,
    SessionConfig,
    SessionState,
)
from tests.conftest import EventRecorder, add_note
from tests.sessions.helpers import transcribed

OLD, NEW, OTHER = -100, -1001234, 7


def chats_on_disk(sessions_dir: Path) -> dict[str, int]:
    """Each session's chat id as its metadata.json says."""
    return {
        path.parent.name: json.loads(path.read_text())["chat_id"]
        for path in sessions_dir.glob("*/metadata.json")
    }


def restarted(sessions_dir: Path) -> FileSessionManager:
    """A new manager over the same folders, as after a crash."""
    config = SessionConfig(base_dir=sessions_dir, max_audio_duration_seconds=1200)
    return FileSessionManager(FileSessionStorage(sessions_dir), config, events=EventBus())


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    opened.attach()  # sessions are indexed as they are transcribed, as in the bot
    manager.use_chat_settings(opened)
    yield opened
    await opened.close()


async def test_sessions_and_settings_move_to_the_new_id_and_the_open_session_is_finalized(
    manager: FileSessionManager,
    library: SessionLibrary,
    sessions_dir: Path,
    recorder: EventRecorder,
) -> None:
    done = await transcribed(manager, OLD)
    others = await transcribed(manager, OTHER)
    open_one = await add_note(manager, await manager.create_session(OLD), message_id=5)
    await manager.update_chat_settings(OLD, lambda s: s.with_language("de").with_words(["Zoë"]))

    record = await manager.move_chat(OLD, NEW)

    assert set(record.sessions) == {done.session_id, open_one.session_id}
    assert not record.finished  # the caller re-indexes, then finishes it
    assert chats_on_disk(sessions_dir) == {
        done.session_id: NEW,
        open_one.session_id: NEW,
        others.session_id: OTHER,
    }
    assert [s.session_id for s in await manager.list_sessions(chat_id=OLD)] == []
    listed = {s.session_id for s in await manager.list_sessions(chat_id=NEW)}
    assert listed == {done.session_id, open_one.session_id}
    # The open session is finalized (published, so it is transcribed and delivered), and
    # the new chat's next note opens a session of its own.
    finalized = await manager.require_session(open_one.session_id)
    assert finalized.state is SessionState.TRANSCRIBING
    assert recorder.types(open_one.session_id)[-2:] == ["finalized", "state_changed"]
    assert await manager.get_active_session(NEW) is None
    after = await add_note(manager, await manager.ensure_active_session(NEW), message_id=5)
    assert after.session_id != open_one.session_id
    assert [e.message_id for e in after.audio_entries] == [5]  # not taken for the group's 5
    # The settings are the new chat's, and the old id has none left.
    assert await manager.get_chat_settings(NEW) == ChatSettings(language="de", vocabulary=("Zoë",))
    assert await manager.get_chat_settings(OLD) == ChatSettings()
    # The index, told to index the moved sessions again, finds the notes under the new id.
    await library.wait_idle()
    assert await library.search(OLD, "note") != []  # rows still name the old chat
    for session_id in record.sessions:
        await library.index_session(session_id)
    assert await library.search(OLD, "note") == []
    assert {h.session_id for h in await library.search(NEW, "note")} == {done.session_id}


async def test_moving_again_changes_nothing_and_doubles_nothing(
    manager: FileSessionManager, library: SessionLibrary, sessions_dir: Path, saves: object
) -> None:
    done = await transcribed(manager, OLD)
    await manager.update_chat_settings(OLD, lambda s: s.with_words(["Grafana"]))
    first = await manager.move_chat(OLD, NEW)
    await manager.finish_chat_move(OLD)
    before = {p: p.read_bytes() for p in sessions_dir.glob("*/metadata.json")}

    again = await manager.move_chat(OLD, NEW)

    assert again.sessions == first.sessions == [done.session_id]
    assert again.finished  # nothing was left to move: the finished record stays
    assert {p: p.read_bytes() for p in sessions_dir.glob("*/metadata.json")} == before
    assert (await manager.get_chat_settings(NEW)).vocabulary == ("Grafana",)
    [move] = await manager.chat_moves()
    assert (move.old_chat_id, move.new_chat_id, move.finished) == (OLD, NEW, True)


async def test_a_move_cut_off_by_a_crash_is_finished_by_moving_again(
    manager: FileSessionManager,
    library: SessionLibrary,
    sessions_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await transcribed(manager, OLD)
    second = await transcribed(manager, OLD)
    third = await add_note(manager, await manager.create_session(OLD), message_id=9)
    await manager.update_chat_settings(OLD, lambda s: s.with_language("fr"))

    # The "crash": the second session's save never happens, and nothing after it runs.
    storage = manager.storage
    real_save = storage.save
    saved: list[str] = []

    def crash_on_second(session: Session) -> None:
        if saved and session.session_id not in saved:
            raise SystemExit("killed")
        saved.append(session.session_id)
        real_save(session)

    monkeypatch.setattr(storage, "save", crash_on_second)
    with pytest.raises(SystemExit):
        await manager.move_chat(OLD, NEW)
    monkeypatch.setattr(storage, "save", real_save)
    assert sorted(chats_on_disk(sessions_dir).values()) == [NEW, OLD, OLD]

    fresh = restarted(sessions_dir)
    fresh.use_chat_settings(library)
    [unfinished] = await fresh.chat_moves()
    assert (unfinished.new_chat_id, unfinished.finished) == (NEW, False)
    record = await fresh.move_chat(OLD, NEW)
    await fresh.finish_chat_move(OLD)

    ids = {first.session_id, second.session_id, third.session_id}
    assert set(record.sessions) == ids
    assert chats_on_disk(sessions_dir) == dict.fromkeys(ids, NEW)
    assert (await fresh.require_session(third.session_id)).state is SessionState.TRANSCRIBING
    assert (await fresh.get_chat_settings(NEW)).language == "fr"
    assert await fresh.get_chat_settings(OLD) == ChatSettings()
    [done] = await fresh.chat_moves()
    assert done.finished


async def test_a_crash_between_writing_and_deleting_the_settings_leaves_one_copy(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(OLD, lambda s: s.with_words(["Kubernetes"]))
    await manager.move_chat(OLD, NEW)
    # As if the old copy's deletion had been cut off: both ids hold the settings.
    await manager.update_chat_settings(OLD, lambda s: s.with_words(["Kubernetes"]))
    await manager.update_chat_settings(NEW, lambda s: s.with_words(["Grafana"]))

    await manager.move_chat(OLD, NEW)

    assert await manager.get_chat_settings(OLD) == ChatSettings()
    assert (await manager.get_chat_settings(NEW)).vocabulary == ("Kubernetes", "Grafana")


async def test_a_session_opened_for_the_old_id_after_the_move_opens_under_the_new_one(
    manager: FileSessionManager,
) -> None:
    await manager.move_chat(OLD, NEW)
    opened = await manager.ensure_active_session(OLD)
    assert opened.chat_id == NEW
    assert (await manager.get_active_session(NEW) or opened).session_id == opened.session_id
    assert await manager.get_active_session(OLD) is None


async def test_a_session_the_new_chat_opened_first_stays_open(
    manager: FileSessionManager,
) -> None:
    old_open = await add_note(manager, await manager.create_session(OLD), message_id=1)
    new_open = await add_note(manager, await manager.create_session(NEW), message_id=1)

    await manager.move_chat(OLD, NEW)

    active = await manager.get_active_session(NEW)
    assert active is not None
    assert active.session_id == new_open.session_id
    moved = await manager.require_session(old_open.session_id)
    assert (moved.chat_id, moved.state) == (NEW, SessionState.TRANSCRIBING)


async def test_a_chat_moves_to_one_id_only(manager: FileSessionManager) -> None:
    await manager.move_chat(OLD, NEW)
    with pytest.raises(ValueError, match="moved to"):
        await manager.move_chat(OLD, NEW + 1)
    with pytest.raises(ValueError, match="itself"):
        await manager.move_chat(OTHER, OTHER)
