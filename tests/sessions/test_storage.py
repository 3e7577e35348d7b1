"""FileSessionStorage on real files: atomic saves, corrupt files, traversal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sessions import (
    CorruptSessionError,
    FileSessionStorage,
    Session,
    SessionNotFoundError,
    SessionState,
)
from sessions.atomic import make_dir, write_atomic
from sessions.layout import DIR_MODE, FILE_MODE
from sessions.storage import METADATA_FILE

SID = "2025-12-18_14-30-00"


def make(storage: FileSessionStorage, session_id: str = SID, chat_id: int = 7) -> Session:
    storage.create_folder_structure(session_id)
    session = Session(session_id=session_id, chat_id=chat_id)
    storage.save(session)
    return session


def test_folder_structure(storage: FileSessionStorage) -> None:
    folder = storage.create_folder_structure(SID)
    for sub in ("audio", "transcripts", "process", "process/output"):
        assert (folder / sub).is_dir()
    with pytest.raises(FileExistsError):  # the mkdir is what reserves an id
        storage.create_folder_structure(SID)


def test_metadata_keys_are_the_public_ones(storage: FileSessionStorage) -> None:
    session = make(storage)
    data = json.loads((storage.session_path(SID) / METADATA_FILE).read_text())
    for key in ("session_id", "chat_id", "state", "created_at", "audio_entries", "errors"):
        assert key in data
    assert data["state"] == "COLLECTING"
    assert data["schema_version"] == 1
    assert data["created_at"].endswith("Z") or "+" in data["created_at"]  # has an offset
    assert storage.load(SID) == session


def test_load_unknown_returns_none(storage: FileSessionStorage) -> None:
    assert storage.load("2030-01-01_00-00-00") is None


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b'{"session_id": 3}', b"[]", json.dumps({"x": 1}).encode()]
)
def test_corrupt_metadata_raises_its_own_error(storage: FileSessionStorage, content: bytes) -> None:
    make(storage)
    (storage.session_path(SID) / METADATA_FILE).write_bytes(content)
    with pytest.raises(CorruptSessionError) as info:
        storage.load(SID)
    assert SID in str(info.value)


def test_metadata_naming_another_session_is_corrupt(storage: FileSessionStorage) -> None:
    make(storage)
    other = Session(session_id="2025-12-18_14-30-01", chat_id=7).model_dump_json()
    (storage.session_path(SID) / METADATA_FILE).write_text(other)
    with pytest.raises(CorruptSessionError):
        storage.load(SID)


def test_failed_rename_keeps_old_metadata(
    storage: FileSessionStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = make(storage)
    folder = storage.session_path(SID)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    changed = session.model_copy(update={"state": SessionState.TRANSCRIBING})
    with pytest.raises(OSError, match="No space"):
        storage.save(changed)
    monkeypatch.undo()

    assert storage.load(SID) == session  # the old state, intact
    assert sorted(p.name for p in folder.iterdir()) == [
        "audio",
        "metadata.json",
        "process",
        "transcripts",
    ]


def test_list_all_only_lists_session_folders(storage: FileSessionStorage) -> None:
    assert storage.list_all() == []
    for sid in ("2025-01-01_00-00-00_10", "2025-01-01_00-00-00", "2025-01-01_00-00-00_2"):
        make(storage, sid)
    (storage.base_dir / "notes").mkdir()
    (storage.base_dir / "2025-01-01_00-00-09").write_text("a file, not a folder")
    assert storage.list_all() == [
        "2025-01-01_00-00-00",
        "2025-01-01_00-00-00_2",
        "2025-01-01_00-00-00_10",
    ]


@pytest.mark.parametrize(
    "bad", ["", "..", ".", "a/b", "/etc/passwd", "../2025-12-18_14-30-00", "2025-12-18", " x"]
)
def test_malformed_ids_are_refused(storage: FileSessionStorage, bad: str, tmp_path: Path) -> None:
    with pytest.raises(SessionNotFoundError):
        storage.session_path(bad)
    with pytest.raises(SessionNotFoundError):
        storage.load(bad)
    with pytest.raises(SessionNotFoundError):
        storage.create_folder_structure(bad)
    assert not (tmp_path / "etc").exists()


def test_active_markers(storage: FileSessionStorage) -> None:
    make(storage)
    assert storage.read_active_marker(-100123) is None
    storage.write_active_marker(-100123, SID)
    assert storage.read_active_marker(-100123) == SID
    assert storage.active_markers() == {-100123: SID}


def modes_under(root: Path) -> dict[str, int]:
    found = {".": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = path.stat().st_mode & 0o777
    return found


@pytest.mark.usefixtures("permissive_umask")
def test_stored_files_and_folders_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    storage = FileSessionStorage(tmp_path / "data" / "sessions")
    make(storage)
    storage.write_active_marker(7, SID)
    with storage.lock(SID), storage.chat_lock(7):
        pass
    modes = modes_under(tmp_path / "data")
    folders = {p: m for p, m in modes.items() if (tmp_path / "data" / p).is_dir()}
    assert len(folders) >= 7  # data, sessions, .active, the session and its four subfolders
    assert folders == dict.fromkeys(folders, DIR_MODE)
    files = {p: m for p, m in modes.items() if (tmp_path / "data" / p).is_file()}
    assert len(files) >= 4  # metadata, active marker, two lock files
    assert files == dict.fromkeys(files, FILE_MODE)


@pytest.mark.usefixtures("permissive_umask")
def test_write_atomic_gives_the_mode_asked_for(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    target.write_bytes(b"old")
    target.chmod(0o666)
    write_atomic(target, b"new")
    assert target.stat().st_mode & 0o777 == FILE_MODE  # replaced, not the old file's mode
    write_atomic(target, b"newer", mode=0o640)
    assert target.stat().st_mode & 0o777 == 0o640
    make_dir(tmp_path / "a" / "b")
    assert [(tmp_path / p).stat().st_mode & 0o777 for p in ("a", "a/b")] == [DIR_MODE] * 2
