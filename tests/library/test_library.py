"""The search index on a real SQLite file beside real session folders."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from library import Fragment, LibraryError, SearchHit, SessionLibrary, library_path
from library import db as library_db
from library.query import fragments, match_expression
from sessions import FileSessionManager, Transcript
from tests.conftest import add_note
from tests.sessions.helpers import transcribed


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    opened.attach()
    yield opened
    await opened.close()


async def reopen(
    manager: FileSessionManager, path: Path
) -> tuple[SessionLibrary, list[MutableMapping[str, Any]]]:
    """A new library on ``path`` (as after a restart), opened; with what it logged."""
    fresh = SessionLibrary(path, manager)
    with capture_logs() as logs:
        await fresh.open()
        await fresh.wait_idle()  # the catching up with the folders, after an intact open
    return fresh, [entry for entry in logs if entry["event"].startswith("library_")]


def where(hits: list[SearchHit]) -> list[tuple[str, int]]:
    return [(hit.session_id, hit.sequence) for hit in hits]


def rows(path: Path, session_id: str) -> int:
    with sqlite3.connect(path) as db:
        return int(
            db.execute("SELECT count(*) FROM notes WHERE session_id = ?", (session_id,)).fetchone()[
                0
            ]
        )


# -- searching -------------------------------------------------------------------------------


async def test_a_transcribed_session_is_found_best_match_first(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    calm = await transcribed(manager, 1, ["the quick brown fox jumps over the lazy dog", "rain"])
    keen = await transcribed(manager, 1, ["fox, fox and another fox near the fox den"])
    await library.wait_idle()

    hits = await library.search(1, "fox")

    assert where(hits) == [(keen.session_id, 1), (calm.session_id, 1)]
    assert hits[0].score > hits[1].score > 0
    assert hits[1].fragments == [
        Fragment(text="the quick brown ", match=False),
        Fragment(text="fox", match=True),
        Fragment(text=" jumps over the lazy dog", match=False),
    ]
    assert "".join(f.text for f in hits[0].fragments) == "fox, fox and another fox near the fox den"
    assert where(await library.search(1, "rain")) == [(calm.session_id, 2)]


async def test_every_word_must_match_and_the_last_may_be_a_prefix(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    one = await transcribed(manager, 1, ["remember to buy oat milk", "the transcript of a meeting"])
    await library.wait_idle()
    assert where(await library.search(1, "buy milk")) == [(one.session_id, 1)]
    assert await library.search(1, "buy bread") == []
    assert where(await library.search(1, "meeting transcri")) == [(one.session_id, 2)]
    assert await library.search(1, "transcri meeting") == []  # only the last word is a prefix
    assert where(await library.search(1, "REMEMBER Oat")) == [(one.session_id, 1)]


async def test_accents_and_case_do_not_matter(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    session = await transcribed(manager, 1, ["Rendez-vous au Café de Zürich à midi"])
    await library.wait_idle()
    assert where(await library.search(1, "cafe zurich")) == [(session.session_id, 1)]
    assert where(await library.search(1, "CAFÉ")) == [(session.session_id, 1)]


async def test_a_chat_sees_only_its_own_notes(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    mine = await transcribed(manager, 1, ["secret plans for the weekend"])
    group = await transcribed(manager, -1001, ["secret plans of the group"])
    other = await transcribed(manager, 1001, ["secret plans of someone else"])
    await library.wait_idle()

    assert where(await library.search(1, "secret plans")) == [(mine.session_id, 1)]
    assert where(await library.search(-1001, "secret")) == [(group.session_id, 1)]
    assert where(await library.search(1001, "secret")) == [(other.session_id, 1)]
    assert await library.search(2, "secret") == []
    # The chat filter cannot be talked around from inside the query.
    assert await library.search(1, "chat_id 1001 OR secret") == []
    assert await library.search(1, "group") == []


async def test_results_page_with_limit_and_offset(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    session = await transcribed(manager, 1, [f"apple number {n}" for n in range(7)])
    await library.wait_idle()
    first = await library.search(1, "apple", limit=5)
    rest = await library.search(1, "apple", limit=5, offset=5)
    assert len(first) == 5
    assert len(rest) == 2
    assert sorted(h.sequence for h in first + rest) == list(range(1, 8))
    assert {h.session_id for h in first + rest} == {session.session_id}
    assert await library.search(1, "apple", limit=0) == []


# Each query, and whether it finds "a fox and a dog": only its words count, all of them.
HOSTILE = [
    ('"', False),
    ('""', False),
    ('fox"', True),
    ("fox*", True),
    ("*", False),
    ("-fox", True),
    ("fox -", True),
    ("(fox", True),
    ("fox)", True),
    (")(", False),
    ("NOT fox", False),
    ("fox OR", False),
    ("AND", True),  # the word "and" is in the note
    ("NEAR(fox", False),
    ("NEAR(fox dog, 2)", False),
    ("text:fox", False),
    ("{text chat}: fox", False),
    ("^fox", True),
    ("fox + dog", True),
    ("'; DROP TABLE notes; --", False),
    ("fox\x00dog", True),
    ("\x02fox\x03", True),
    ("🦊 fox", True),
    ("", False),
    ("   ", False),
    ("_", False),
    ("x" * 5000, False),
    ("fox " * 200, True),
]


@pytest.mark.parametrize(("query", "found"), HOSTILE)
async def test_no_query_breaks_the_search(
    manager: FileSessionManager, library: SessionLibrary, query: str, found: bool
) -> None:
    session = await transcribed(manager, 1, ["a fox and a dog"])
    await library.wait_idle()
    hits = await library.search(1, query)
    assert where(hits) == ([(session.session_id, 1)] if found else [])
    assert await library.search(1, "dog")  # and the index is intact


def test_queries_are_only_quoted_words() -> None:
    assert match_expression('fox" OR (text : x*') == '"fox" AND "OR" AND "text" AND "x"'
    assert match_expression("NEAR(a b") == '"NEAR" AND "a" AND "b"'
    assert match_expression("meet") == '"meet" *'
    assert match_expression("-(*)") is None


def test_snippets_split_into_marked_fragments() -> None:
    assert fragments("…a \x02b\x03\x02c\x03 d") == [
        Fragment(text="…a ", match=False),
        Fragment(text="b", match=True),
        Fragment(text="c", match=True),
        Fragment(text=" d", match=False),
    ]
    assert fragments("plain") == [Fragment(text="plain", match=False)]


# -- following the sessions ------------------------------------------------------------------


async def test_only_transcribed_sessions_are_indexed(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    open_session = await add_note(manager, await manager.create_session(chat_id=1))
    folder = manager.folder(open_session.session_id)
    await asyncio.to_thread(folder.write_transcript, 1, Transcript(text="unfinished thought"))
    await library.index_session(open_session.session_id)
    await manager.remove_entry(open_session.session_id, 1)  # harmless for the index
    await manager.cancel_session(open_session.session_id)
    await library.wait_idle()
    assert await library.search(1, "unfinished") == []


async def test_a_deleted_session_leaves_the_index(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    gone = await transcribed(manager, 1, ["forget this note", "and this one"])
    kept = await transcribed(manager, 1, ["keep this note"])
    await library.wait_idle()
    assert rows(library.path, gone.session_id) == 2

    await manager.delete_session(gone.session_id)
    await library.wait_idle()

    assert rows(library.path, gone.session_id) == 0
    assert where(await library.search(1, "note")) == [(kept.session_id, 1)]


async def test_no_word_of_a_deleted_session_stays_in_the_index_files(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    # /forget promises nothing of the session is kept: not in freed pages of the database,
    # not in FTS5's older segments, not in the write-ahead log.
    gone = await transcribed(manager, 1, ["the zanzibarquux plan is secret"])
    for n in range(3):  # more segments, so the deleted one is not simply the last
        await transcribed(manager, 1, [f"an ordinary note number {n}"])
    await library.wait_idle()
    files = [library.path.with_name(library.path.name + s) for s in ("", "-wal", "-shm")]
    assert any(b"zanzibarquux" in f.read_bytes() for f in files if f.exists())

    await manager.delete_session(gone.session_id)
    await library.wait_idle()

    assert not [f.name for f in files if f.exists() and b"zanzibarquux" in f.read_bytes()]
    assert where(await library.search(1, "ordinary")) != []


async def test_remove_session_and_index_session_by_hand(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    library = SessionLibrary(library_path(sessions_dir), manager)
    await library.open()  # not attached: nothing follows the events
    await library.wait_idle()
    try:
        session = await transcribed(manager, 1, ["indexed by hand"])
        assert await library.search(1, "hand") == []
        await library.index_session(session.session_id)
        await library.index_session(session.session_id)  # again: no duplicate rows
        assert where(await library.search(1, "hand")) == [(session.session_id, 1)]
        await library.remove_session(session.session_id)
        assert await library.search(1, "hand") == []
    finally:
        await library.close()


# -- rebuilding --------------------------------------------------------------------------------


async def test_opening_catches_up_with_what_happened_while_closed(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    stays = await transcribed(manager, 1, ["still here"])
    goes = await transcribed(manager, 1, ["deleted while closed"])
    await library.wait_idle()
    await library.close()
    late = await transcribed(manager, 1, ["transcribed while closed"])
    await manager.delete_session(goes.session_id)

    fresh, logs = await reopen(manager, library.path)
    try:
        assert [e["event"] for e in logs] == ["library_opened"]
        assert (logs[0]["sessions_added"], logs[0]["sessions_removed"]) == (1, 1)
        assert where(await fresh.search(1, "closed")) == [(late.session_id, 1)]
        assert where(await fresh.search(1, "still")) == [(stays.session_id, 1)]
    finally:
        await fresh.close()


async def test_a_session_that_took_a_deleted_ones_id_is_indexed_afresh(
    manager: FileSessionManager,
    library: SessionLibrary,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr("sessions.manager.utc_now", lambda: moment)  # the same id again
    old = await transcribed(manager, 1, ["old words"])
    await library.wait_idle()
    await library.close()
    await manager.delete_session(old.session_id)
    # One manager never gives a deleted id again in its second; another process (a restart
    # within the second, another tool) can.
    restarted = FileSessionManager(manager.storage, manager.config)
    new = await transcribed(restarted, 1, ["new words"])
    assert new.session_id == old.session_id

    fresh, logs = await reopen(manager, library.path)
    try:
        assert (logs[0]["sessions_added"], logs[0]["sessions_removed"]) == (1, 0)
        assert await fresh.search(1, "old") == []
        assert where(await fresh.search(1, "new")) == [(new.session_id, 1)]
    finally:
        await fresh.close()


async def test_a_deleted_index_file_is_rebuilt(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    sessions = [await transcribed(manager, 1, [f"topic {n} alpha", "beta"]) for n in range(3)]
    await library.wait_idle()
    await library.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{library.path}{suffix}").unlink(missing_ok=True)

    fresh, logs = await reopen(manager, library.path)
    try:
        assert [(e["event"], e["reason"], e["notes"]) for e in logs] == [
            ("library_rebuilt", "missing", 6)
        ]
        assert logs[0]["seconds"] >= 0
        found = await fresh.search(1, "alpha", limit=10)
        assert sorted(where(found)) == sorted((s.session_id, 1) for s in sessions)
    finally:
        await fresh.close()


async def test_an_unreadable_transcript_does_not_stop_a_rebuild(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    good = await transcribed(manager, 1, ["alpha readable"])
    bad = await transcribed(manager, 1, ["alpha damaged", "alpha fine"])
    await library.wait_idle()
    await library.close()
    library.path.unlink()
    [entry] = [e for e in bad.audio_entries if e.sequence == 1]
    assert entry.transcript_filename is not None
    transcript = manager.folder(bad.session_id).path / "transcripts" / entry.transcript_filename
    transcript.write_bytes(b"\xff\xfe not utf-8 \xc3")  # edited by hand, say

    fresh, logs = await reopen(manager, library.path)
    try:
        assert [e["event"] for e in logs] == ["library_note_unreadable", "library_rebuilt"]
        found = await fresh.search(1, "alpha", limit=10)
        assert sorted(where(found)) == sorted([(good.session_id, 1), (bad.session_id, 2)])
    finally:
        await fresh.close()


@pytest.mark.parametrize("damage", ["whole file", "pages after the first"])
async def test_a_corrupt_index_file_is_rebuilt(
    manager: FileSessionManager, library: SessionLibrary, damage: str
) -> None:
    session = await transcribed(manager, 1, ["survives corruption"])
    await library.wait_idle()
    await library.close()
    size = library.path.stat().st_size
    assert size > 4 * 4096  # several pages (the WAL was folded back in on closing)
    with library.path.open("r+b") as handle:
        start = 0 if damage == "whole file" else 4096
        handle.seek(start)
        handle.write(os.urandom(size - start))

    fresh, logs = await reopen(manager, library.path)
    try:
        assert [e["event"] for e in logs] == ["library_rebuilt"]
        assert logs[0]["reason"].startswith(("unreadable", "corrupt"))
        assert where(await fresh.search(1, "corruption")) == [(session.session_id, 1)]
    finally:
        await fresh.close()


async def test_an_index_of_another_schema_version_is_rebuilt(
    manager: FileSessionManager, library: SessionLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await transcribed(manager, 1, ["schema change"])
    await library.wait_idle()
    await library.close()
    old = library_db.SCHEMA_VERSION
    monkeypatch.setattr(library_db, "SCHEMA_VERSION", old + 1)

    fresh, logs = await reopen(manager, library.path)
    try:
        assert [e["event"] for e in logs] == ["library_rebuilt"]
        assert logs[0]["reason"] == f"schema version {old}, expected {old + 1}"
        assert where(await fresh.search(1, "schema")) == [(session.session_id, 1)]
        with sqlite3.connect(library.path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == old + 1
    finally:
        await fresh.close()


# -- the file ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("permissive_umask")
async def test_the_index_is_private_and_invisible_to_the_sessions(
    manager: FileSessionManager, library: SessionLibrary, sessions_dir: Path
) -> None:
    session = await transcribed(manager, 1, ["private words"])
    await library.wait_idle()
    assert stat.S_IMODE(library.path.parent.stat().st_mode) == 0o700
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{library.path}{suffix}")
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    with sqlite3.connect(library.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [s.session_id for s in await manager.list_sessions()] == [session.session_id]
    assert await manager.remove_leftovers() == []
    assert where(await library.search(1, "private")) == [(session.session_id, 1)]


async def test_a_library_that_is_not_open_says_so(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    library = SessionLibrary(library_path(sessions_dir), manager)
    with pytest.raises(LibraryError):
        await library.search(1, "anything")
    await library.open()
    await library.close()
    with pytest.raises(LibraryError):
        await library.search(1, "anything")
    await library.close()  # twice is harmless
