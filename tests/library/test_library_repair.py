"""The search index repaired without losing anything: on real SQLite files beside real
session folders. A corrupt index is rebuilt beside the live file in the background (the
chats' settings, in their own file, untouched); a session that cannot be indexed is skipped;
an index that is only locked is never rebuilt; a rebuild killed part of the way leaves the
live file and the settings as they were; many removals cost one scrub, not one each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from library import LibraryError, SearchHit, SessionLibrary, library_path
from library.db import LibraryDatabase, Note
from library.index import LibraryRebuildingError
from sessions import ChatSettings, FileSessionManager, Session
from sessions.storage import METADATA_FILE
from tests.conftest import TIMEOUT_SCALE
from tests.sessions.helpers import transcribed

REPO = Path(__file__).resolve().parents[2]


def corrupt(path: Path) -> bytes:
    """Overwrite every page of ``path`` after the first with noise; the bytes written."""
    size = path.stat().st_size
    assert size > 4 * 4096
    noise = os.urandom(size - 4096)
    with path.open("r+b") as handle:
        handle.seek(4096)
        handle.write(noise)
    return path.read_bytes()


def where(hits: list[SearchHit]) -> list[tuple[str, int]]:
    return [(h.session_id, h.sequence) for h in hits]


@pytest.fixture
def held() -> Iterator[threading.Event]:
    """An event a rebuild waits on, in its worker thread (released at the end whatever)."""
    release = threading.Event()
    yield release
    release.set()


def holding(library: SessionLibrary, release: threading.Event) -> None:
    """Make ``library``'s rebuild wait for ``release`` before it reads the first session."""
    read = library._read_notes

    def slow(session: Session) -> list[Note]:
        assert release.wait(60 * TIMEOUT_SCALE)
        return read(session)

    library._read_notes = slow  # type: ignore[method-assign]


async def until(check: Callable[[], bool], timeout: float = 30) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_corrupt_index_is_rebuilt_in_the_background_and_keeps_every_chats_settings(
    manager: FileSessionManager, sessions_dir: Path, held: threading.Event
) -> None:
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager)
    await library.open()
    manager.use_chat_settings(library)
    sessions = [await transcribed(manager, 1, [f"harbour plan {n}"]) for n in range(3)]
    for session in sessions:
        await library.index_session(session.session_id)
    await manager.update_chat_settings(1, lambda s: s.with_language("de").with_words(["Zoë"]))
    await manager.update_chat_settings(2, lambda s: s.with_words(["Grafana"]))
    await library.close()
    corrupt(path)

    fresh = SessionLibrary(path, manager)
    holding(fresh, held)
    manager.use_chat_settings(fresh)
    try:
        with capture_logs() as logs:
            await asyncio.wait_for(fresh.open(), 10 * TIMEOUT_SCALE)  # does not wait for it
            # Meanwhile: searches say the index is being rebuilt, settings work as ever.
            assert fresh.rebuilding
            with pytest.raises(LibraryRebuildingError):
                await fresh.search(1, "harbour")
            assert await manager.get_chat_settings(1) == ChatSettings(
                language="de", vocabulary=("Zoë",)
            )
            await manager.update_chat_settings(3, lambda s: s.with_words(["Kubernetes"]))
            held.set()
            await fresh.wait_idle()
        [rebuilt] = [e for e in logs if e["event"] == "library_rebuilt"]
        assert rebuilt["reason"].startswith("corrupt")
        assert rebuilt["chat_settings_kept"] == 3
        assert not fresh.rebuilding
        found = await fresh.search(1, "harbour", limit=10)
        assert sorted(where(found)) == sorted((s.session_id, 1) for s in sessions)
        assert (await manager.get_chat_settings(2)).vocabulary == ("Grafana",)
        assert (await manager.get_chat_settings(3)).vocabulary == ("Kubernetes",)
        assert not Path(f"{path}.rebuild").exists()
    finally:
        await fresh.close()


def duplicate_a_sequence(manager: FileSessionManager, session: Session) -> None:
    """Edit the session's metadata.json by hand: two entries with the same sequence."""
    file = manager.folder(session.session_id).path / METADATA_FILE
    data = json.loads(file.read_text())
    data["audio_entries"].append(dict(data["audio_entries"][0]))
    file.write_text(json.dumps(data))


async def test_a_session_with_two_notes_of_one_sequence_is_skipped_not_fatal(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    path = library_path(sessions_dir)
    good = await transcribed(manager, 1, ["lighthouse one"])
    odd = await transcribed(manager, 1, ["lighthouse two"])
    later = await transcribed(manager, 1, ["lighthouse three"])
    duplicate_a_sequence(manager, odd)

    library = SessionLibrary(path, manager)  # no file: rebuilt from the folders
    try:
        with capture_logs() as logs:
            await library.open()
            await library.wait_idle()
        skipped = [e for e in logs if e["event"] == "library_session_skipped"]
        assert [e["session_id"] for e in skipped] == [odd.session_id]
        assert "UNIQUE" in skipped[0]["error"]
        [rebuilt] = [e for e in logs if e["event"] == "library_rebuilt"]
        assert rebuilt["sessions_skipped"] == 1
        found = await library.search(1, "lighthouse", limit=10)
        assert sorted(where(found)) == sorted([(good.session_id, 1), (later.session_id, 1)])
    finally:
        await library.close()

    # Caught up with at a start (an intact index), it is skipped the same way.
    newer = await transcribed(manager, 1, ["lighthouse four"])
    other = await transcribed(manager, 1, ["lighthouse five"])
    duplicate_a_sequence(manager, newer)
    again = SessionLibrary(path, manager)
    try:
        with capture_logs() as logs:
            await again.open()
            await again.wait_idle()
        events = [e["event"] for e in logs]
        assert "library_rebuilt" not in events
        assert "library_update_failed" not in events
        assert [e["session_id"] for e in logs if e["event"] == "library_session_skipped"] == [
            odd.session_id,
            newer.session_id,
        ]
        assert (other.session_id, 1) in where(await again.search(1, "lighthouse", limit=10))
    finally:
        await again.close()


async def test_a_locked_index_is_not_rebuilt_and_is_opened_once_free(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager)
    await library.open()
    session = await transcribed(manager, 1, ["locked words"])
    await library.index_session(session.session_id)
    await library.save_chat_settings(1, ChatSettings(language="fr"))
    await library.close()
    before = path.read_bytes()

    # Another process's (or a backup tool's) exclusive lock on the file.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    fresh = SessionLibrary(path, manager, retry_seconds=0.2)
    try:
        with capture_logs() as logs:
            await fresh.open()
            assert [e["event"] for e in logs if e["event"].startswith("library_")] == [
                "library_unavailable"
            ]
            assert "locked" in logs[-1]["error"]
            with pytest.raises(LibraryError) as raised:
                await fresh.search(1, "locked")
            assert not isinstance(raised.value, LibraryRebuildingError)
            assert not fresh.rebuilding
            assert await fresh.load_chat_settings(1) == ChatSettings(language="fr")
            holder.execute("ROLLBACK")
            holder.close()
            await fresh.wait_idle()
        events = [e["event"] for e in logs]
        assert "library_rebuilt" not in events
        assert "library_opened" in events
        assert where(await fresh.search(1, "locked")) == [(session.session_id, 1)]
    finally:
        holder.close()
        await fresh.close()
    assert path.read_bytes()[:100] == before[:100]  # the same file, not a new one


_KILLED_REBUILD = """
import asyncio, sys, time
from pathlib import Path
from sessions import FileSessionManager, FileSessionStorage, SessionConfig
from library import SessionLibrary
from library import library_path

async def main() -> None:
    base = Path(sys.argv[1])
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    library = SessionLibrary(library_path(base), manager)
    read = library._read_notes
    def slow(session):
        time.sleep(0.1)
        return read(session)
    library._read_notes = slow
    await library.open()
    await library.wait_idle()

asyncio.run(main())
"""


async def test_a_rebuild_killed_part_of_the_way_leaves_the_live_file_and_settings(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager)
    await library.open()
    sessions = [await transcribed(manager, 1, [f"orchard note {n}"]) for n in range(40)]
    for session in sessions:
        await library.index_session(session.session_id)
    await library.save_chat_settings(5, ChatSettings(vocabulary=("Quennell",)))
    await library.close()
    damaged = corrupt(path)
    settings_file = library.chat_settings.path
    settings_before = settings_file.read_bytes()

    # A real process, SIGKILLed (as by the OOM killer) while it writes the new index.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _KILLED_REBUILD, str(sessions_dir), cwd=REPO
    )
    spare = Path(f"{path}.rebuild")
    try:
        await until(lambda: spare.exists() and spare.stat().st_size > 0)
        await asyncio.sleep(0.3)
        assert child.returncode is None, "the rebuild ended before it could be killed"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()

    assert path.read_bytes() == damaged  # the live file as it was
    assert settings_file.read_bytes() == settings_before

    fresh = SessionLibrary(path, manager)
    try:
        with capture_logs() as logs:
            await fresh.open()
            await fresh.wait_idle()
        [rebuilt] = [e for e in logs if e["event"] == "library_rebuilt"]
        assert rebuilt["reason"].startswith("corrupt")
        assert len(await fresh.search(1, "orchard", limit=50)) == 40
        assert await fresh.load_chat_settings(5) == ChatSettings(vocabulary=("Quennell",))
        assert not spare.exists()
    finally:
        await fresh.close()


async def test_many_removals_cost_one_scrub_and_leave_no_word_in_the_files(
    manager: FileSessionManager, sessions_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scrubs: list[float] = []
    scrub = LibraryDatabase.scrub

    def counted(db: LibraryDatabase) -> None:
        scrubs.append(time.monotonic())
        scrub(db)

    monkeypatch.setattr(LibraryDatabase, "scrub", counted)
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager, scrub_delay=0.5)
    await library.open()
    library.attach()
    try:
        gone = [await transcribed(manager, 1, [f"zanzibarquux{n} secret"]) for n in range(12)]
        kept = await transcribed(manager, 1, ["an ordinary note"])
        await library.wait_idle()
        files = [Path(f"{path}{s}") for s in ("", "-wal", "-shm")]
        assert any(b"zanzibarquux3" in f.read_bytes() for f in files if f.exists())

        for session in gone:  # a retention sweep, say
            await manager.delete_session(session.session_id)
        await library.wait_idle()

        assert len(scrubs) == 1
        leaks = [f.name for f in files if f.exists() and b"zanzibarquux" in f.read_bytes()]
        assert leaks == []
        assert where(await library.search(1, "ordinary")) == [(kept.session_id, 1)]
        assert await library.search(1, "zanzibarquux3") == []
    finally:
        await library.close()


async def test_a_removal_not_yet_scrubbed_is_scrubbed_at_the_next_start(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager, scrub_delay=3600)
    await library.open()
    gone = await transcribed(manager, 1, ["quokkaplanet words"])
    for n in range(3):
        await library.index_session((await transcribed(manager, 1, [f"filler {n}"])).session_id)
    await library.index_session(gone.session_id)
    await manager.delete_session(gone.session_id)  # (not attached: the removal by hand)
    await library.remove_session(gone.session_id)
    # Cut off before the scrub (a crash): only what the files hold counts.
    library._closing.set()
    await library.wait_idle()
    library._closing.clear()
    library._closed = True
    library._executor.submit(library._db.close).result()

    fresh = SessionLibrary(path, manager, scrub_delay=0.01)
    try:
        await fresh.open()
        await fresh.wait_idle()
        files = [Path(f"{path}{s}") for s in ("", "-wal", "-shm")]
        assert not [f.name for f in files if f.exists() and b"quokkaplanet" in f.read_bytes()]
    finally:
        await fresh.close()
        await library.chat_settings.close()


@pytest.mark.parametrize(
    ("error", "rebuilds"),
    [
        ("database disk image is malformed", True),
        ("file is not a database", True),
        ("database is locked", False),
        ("disk I/O error", False),
        ("database or disk is full", False),
    ],
)
async def test_while_running_only_corruption_rebuilds(
    manager: FileSessionManager,
    sessions_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: str,
    rebuilds: bool,
) -> None:
    library = SessionLibrary(library_path(sessions_dir), manager)
    await library.open()
    session = await transcribed(manager, 1, ["steady words"])
    await library.index_session(session.session_id)
    await library.wait_idle()
    search = LibraryDatabase.search

    def fails_once(db: LibraryDatabase, *args: object) -> object:
        monkeypatch.setattr(LibraryDatabase, "search", search)
        raise sqlite3.OperationalError(error) if not rebuilds else sqlite3.DatabaseError(error)

    monkeypatch.setattr(LibraryDatabase, "search", fails_once)
    try:
        with capture_logs() as logs:
            with pytest.raises(LibraryError, match=error):
                await library.search(1, "steady")
            assert library.rebuilding is rebuilds
            await library.wait_idle()
        rebuilt = [e for e in logs if e["event"] == "library_rebuilt"]
        assert len(rebuilt) == (1 if rebuilds else 0)
        assert where(await library.search(1, "steady")) == [(session.session_id, 1)]
    finally:
        await library.close()


async def test_a_chat_moved_during_a_rebuild_is_found_under_its_new_id_after_it(
    manager: FileSessionManager, sessions_dir: Path, held: threading.Event
) -> None:
    # The rebuild's catch-up compares when sessions were transcribed; a chat's move (a group
    # become a supergroup) keeps that, so the move's re-indexing must not be lost meanwhile.
    path = library_path(sessions_dir)
    library = SessionLibrary(path, manager)
    await library.open()
    session = await transcribed(manager, -100, ["lighthouse keys"])
    await library.index_session(session.session_id)
    await library.close()
    corrupt(path)

    fresh = SessionLibrary(path, manager)
    holding(fresh, held)
    try:
        await fresh.open()
        assert fresh.rebuilding
        await manager.move_chat(-100, -1001)
        await fresh.index_session(session.session_id)  # what the migration service does
        held.set()
        await fresh.wait_idle()
        assert where(await fresh.search(-1001, "lighthouse")) == [(session.session_id, 1)]
        assert await fresh.search(-100, "lighthouse") == []
    finally:
        await fresh.close()
