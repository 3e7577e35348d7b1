"""A chat's settings: the model's rules, and their storage in a real SQLite file of their own
beside the library's index (kept across restarts, rebuilds, a corrupt index and the move out
of an older index, gone for good when deleted)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from library import SessionLibrary, library_path
from library import db as library_db
from sessions import ChatSettings, FileSessionManager
from sessions.chat_settings import (
    MAX_VOCABULARY_CHARS,
    MAX_VOCABULARY_WORDS,
    MAX_WORD_CHARS,
    VocabularyLimitError,
)
from tests.sessions.helpers import transcribed

# -- the model ---------------------------------------------------------------------------------


def test_words_are_cleaned_appended_in_order_and_not_doubled() -> None:
    settings = ChatSettings().with_words(["  Kubernetes ", "Zoe\u0308  Ortega", "kubernetes", ""])
    assert settings.vocabulary == ("Kubernetes", "Zoë Ortega")  # NFC, one space, no repeat
    settings = settings.with_words(["ZOË ORTEGA", "Grafana"])
    assert settings.vocabulary == ("Kubernetes", "Zoë Ortega", "Grafana")
    assert settings.hotwords() == "Kubernetes, Zoë Ortega, Grafana"


def test_words_are_removed_ignoring_case_and_the_missing_ones_named() -> None:
    settings = ChatSettings(vocabulary=("Kubernetes", "Zoë Ortega"))
    changed, missing = settings.without_words(["zoë ortega", "Grafana"])
    assert changed.vocabulary == ("Kubernetes",)
    assert missing == ["Grafana"]
    assert ChatSettings().hotwords() is None


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["x" * (MAX_WORD_CHARS + 1)], "too long"),
        ([f"w{n}" for n in range(MAX_VOCABULARY_WORDS + 1)], f"at most {MAX_VOCABULARY_WORDS}"),
        ([f"{n:02d}" + "y" * 40 for n in range(8)], f"at most {MAX_VOCABULARY_CHARS}"),
    ],
)
def test_a_vocabulary_over_a_limit_is_refused_saying_which(words: list[str], says: str) -> None:
    with pytest.raises(VocabularyLimitError, match=says):
        ChatSettings().with_words(words)


def test_a_vocabulary_up_to_the_limits_is_taken() -> None:
    words = [f"w{n:02d}" for n in range(MAX_VOCABULARY_WORDS)]  # 50 x 3 + 49 x 2 = 248
    assert len(ChatSettings().with_words(words).vocabulary) == MAX_VOCABULARY_WORDS


@pytest.mark.parametrize("language", ["de", "DE ", "auto", "haw", None])
def test_languages_of_the_known_forms_are_taken(language: str | None) -> None:
    expected = None if language is None else language.strip().lower()
    assert ChatSettings(language=language).language == expected


@pytest.mark.parametrize("language", ["german", "d", "de-DE", "1"])
def test_other_language_forms_are_refused(language: str) -> None:
    with pytest.raises(ValueError, match="language"):
        ChatSettings(language=language)


# -- stored in the library's database ------------------------------------------------------------


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    manager.use_chat_settings(opened)
    yield opened
    await opened.close()


def stored(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT chat_id, settings FROM chat_settings").fetchall())


async def test_settings_are_kept_per_chat_in_the_sqlite_file_across_a_restart(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_language("de").with_words(["Zoë"]))
    await manager.update_chat_settings(2, lambda s: s.with_words(["Grafana"]))
    assert set(stored(library.chat_settings.path)) == {1, 2}
    await library.close()

    fresh = SessionLibrary(library.path, manager)
    await fresh.open()
    manager.use_chat_settings(fresh)
    try:
        assert await manager.get_chat_settings(1) == ChatSettings(
            language="de", vocabulary=("Zoë",)
        )
        assert await manager.get_chat_settings(2) == ChatSettings(vocabulary=("Grafana",))
        assert await manager.get_chat_settings(3) == ChatSettings()
    finally:
        await fresh.close()


async def test_a_change_that_fails_stores_nothing(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_words(["Kubernetes"]))
    too_many = [f"w{n}" for n in range(MAX_VOCABULARY_WORDS)]
    with pytest.raises(VocabularyLimitError):
        await manager.update_chat_settings(1, lambda s: s.with_words(too_many))
    assert (await manager.get_chat_settings(1)).vocabulary == ("Kubernetes",)


async def test_settings_back_to_the_defaults_leave_no_row(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_language("fr"))
    await manager.update_chat_settings(1, lambda s: s.with_language(None))
    assert stored(library.chat_settings.path) == {}


async def test_deleted_settings_leave_no_trace_in_the_files(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(7, lambda s: s.with_words(["Xylophonist Quennell"]))
    await manager.update_chat_settings(8, lambda s: s.with_words(["Grafana"]))
    assert await manager.delete_chat_settings(7) is True
    assert await manager.delete_chat_settings(7) is False
    assert await manager.get_chat_settings(7) == ChatSettings()
    assert (await manager.get_chat_settings(8)).vocabulary == ("Grafana",)
    folder = library.path.parent
    for file in folder.iterdir():
        assert b"Quennell" not in file.read_bytes(), file.name


async def test_a_rebuild_of_the_index_keeps_every_chats_settings(
    manager: FileSessionManager, library: SessionLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await transcribed(manager, 1, ["kept words"])
    await library.index_session(session.session_id)
    await manager.update_chat_settings(1, lambda s: s.with_words(["Kubernetes"]))
    await manager.update_chat_settings(2, lambda s: s.with_language("auto"))

    with capture_logs() as logs:
        await library.rebuild("asked for")
    assert (await manager.get_chat_settings(1)).vocabulary == ("Kubernetes",)
    assert (await manager.get_chat_settings(2)).language == "auto"
    assert [e.get("chat_settings_kept") for e in logs if e["event"] == "library_rebuilt"] == [2]

    # A rebuild at start, for a newer schema, leaves them be.
    await library.close()
    monkeypatch.setattr(library_db, "SCHEMA_VERSION", library_db.SCHEMA_VERSION + 1)
    fresh = SessionLibrary(library.path, manager)
    with capture_logs() as logs:
        await fresh.open()
        await fresh.wait_idle()
    manager.use_chat_settings(fresh)
    try:
        assert [e["event"] for e in logs if e["event"] == "library_rebuilt"] == ["library_rebuilt"]
        assert (await manager.get_chat_settings(1)).vocabulary == ("Kubernetes",)
        assert len(await fresh.search(1, "kept")) == 1
    finally:
        await fresh.close()


def make_version_2_index(path: Path, settings: dict[int, str]) -> None:
    """Turn the index at ``path`` into what version 2 left: chats' settings in its own table."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE chat_settings (chat_id INTEGER PRIMARY KEY, settings TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)"
        )
        db.executemany("INSERT INTO chat_settings VALUES (?, ?, 'then')", list(settings.items()))
        db.execute("PRAGMA user_version = 2")


async def test_settings_of_an_older_index_move_to_their_own_file_once(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    session = await transcribed(manager, 1, ["older index"])
    await library.index_session(session.session_id)
    await library.close()
    library.chat_settings.path.unlink()  # as before this version: no settings file yet
    old = {
        1: '{"language": "de", "vocabulary": ["Quennellbury"]}',
        2: '{"language": null, "vocabulary": ["Grafana"]}',
    }
    make_version_2_index(library.path, old)
    with sqlite3.connect(library.path) as db:
        notes_before = db.execute("SELECT id, session_id FROM notes").fetchall()

    fresh = SessionLibrary(library.path, manager)
    with capture_logs() as logs:
        await fresh.open()
        await fresh.wait_idle()
    manager.use_chat_settings(fresh)
    try:
        events = [e["event"] for e in logs]
        assert "library_rebuilt" not in events  # upgraded in place, not rebuilt
        assert [e["chats"] for e in logs if e["event"] == "chat_settings_moved"] == [2]
        assert await manager.get_chat_settings(1) == ChatSettings(
            language="de", vocabulary=("Quennellbury",)
        )
        assert (await manager.get_chat_settings(2)).vocabulary == ("Grafana",)
        assert stored(fresh.chat_settings.path) == old
        with sqlite3.connect(library.path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == library_db.SCHEMA_VERSION
            assert db.execute("SELECT id, session_id FROM notes").fetchall() == notes_before
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            assert "chat_settings" not in tables
        # No copy left in the index's files: /forget all must remove the only one.
        index_files = [Path(f"{library.path}{s}") for s in ("", "-wal", "-shm")]
        assert not [f for f in index_files if f.exists() and b"Quennellbury" in f.read_bytes()]
        assert len(await fresh.search(1, "older")) == 1
    finally:
        await fresh.close()

    # Once: a later start does not move anything again (nor lose what changed since).
    again = SessionLibrary(library.path, manager)
    with capture_logs() as logs:
        await again.open()
        await again.wait_idle()
    try:
        assert "chat_settings_moved" not in [e["event"] for e in logs]
        assert set(stored(again.chat_settings.path)) == {1, 2}
    finally:
        await again.close()


async def test_an_index_of_the_version_before_settings_is_upgraded_in_place(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    session = await transcribed(manager, 1, ["oldest index"])
    await library.index_session(session.session_id)
    await library.close()
    with sqlite3.connect(library.path) as db:  # as the version before chats' settings left it
        db.execute("PRAGMA user_version = 1")
        notes_before = db.execute("SELECT id, session_id FROM notes").fetchall()

    fresh = SessionLibrary(library.path, manager)
    with capture_logs() as logs:
        await fresh.open()
        await fresh.wait_idle()
    manager.use_chat_settings(fresh)
    try:
        assert "library_rebuilt" not in [e["event"] for e in logs]  # upgraded, not rebuilt
        await manager.update_chat_settings(1, lambda s: s.with_words(["Grafana"]))
        assert (await manager.get_chat_settings(1)).vocabulary == ("Grafana",)
        with sqlite3.connect(library.path) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == library_db.SCHEMA_VERSION
            assert db.execute("SELECT id, session_id FROM notes").fetchall() == notes_before
        assert len(await fresh.search(1, "oldest")) == 1
    finally:
        await fresh.close()


async def test_unreadable_stored_settings_serve_the_chat_with_the_defaults(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    with sqlite3.connect(library.chat_settings.path) as db:  # e.g. written by hand
        db.execute("INSERT INTO chat_settings VALUES (5, '{\"language\": \"??\"}', 'now')")
    with capture_logs() as logs:
        assert await manager.get_chat_settings(5) == ChatSettings()
    assert [e["event"] for e in logs] == ["chat_settings_unreadable"]


@pytest.mark.parametrize(
    ("damaged", "logged"),
    [
        ('{"vocabulary": ["Zoë Ortega", "Kubernetes"', "json_invalid at top"),  # cut short
        ('{"vocabulary": "Zoë Ortega, Kubernetes"}', "tuple_type at vocabulary"),
    ],
)
async def test_unreadable_stored_settings_are_logged_without_their_words(
    manager: FileSessionManager, library: SessionLibrary, damaged: str, logged: str
) -> None:
    with sqlite3.connect(library.chat_settings.path) as db:
        db.execute("INSERT INTO chat_settings VALUES (6, ?, 'now')", (damaged,))
    with capture_logs() as logs:
        assert await manager.get_chat_settings(6) == ChatSettings()
    [entry] = logs
    assert entry["error"] == logged
    assert "Zoë" not in repr(entry)
    assert "Kubernetes" not in repr(entry)


async def test_a_settings_file_sqlite_cannot_read_is_kept_aside_and_the_bot_goes_on(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_words(["Grafana"]))
    await library.close()
    path = library.chat_settings.path
    path.write_bytes(b"not a database at all, " * 1000)

    fresh = SessionLibrary(library.path, manager)
    with capture_logs() as logs:
        await fresh.open()
        await fresh.wait_idle()
    manager.use_chat_settings(fresh)
    try:
        assert [e["event"] for e in logs if e["event"] == "chat_settings_file_corrupt"] == [
            "chat_settings_file_corrupt"
        ]
        assert "library_rebuilt" not in [e["event"] for e in logs]  # the index is fine
        assert Path(f"{path}.corrupt").read_bytes().startswith(b"not a database")
        assert await manager.get_chat_settings(1) == ChatSettings()
        await manager.update_chat_settings(1, lambda s: s.with_words(["Kubernetes"]))
        assert (await manager.get_chat_settings(1)).vocabulary == ("Kubernetes",)
    finally:
        await fresh.close()
