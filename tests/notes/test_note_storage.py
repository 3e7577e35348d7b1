"""What ``sessions`` keeps for the notes: a chat's style beside its language and vocabulary
(in the real SQLite settings file; settings stored before styles existed still load), and
the notes' files in the session folder (plain keys only, never a deleted session revived)."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from library import SessionLibrary, library_path
from sessions import ChatSettings, FileSessionManager
from sessions.chat_settings import MAX_STYLE_INSTRUCTION_CHARS
from tests.sessions.helpers import transcribed


def test_a_style_is_set_kept_by_other_changes_and_cleared() -> None:
    settings = ChatSettings().with_style("custom", "  Write it as a\nshort   friendly email ")
    assert settings.style == "custom"
    assert settings.style_instruction == "Write it as a short friendly email"
    changed = settings.with_language("de").with_words(["Zoë"])
    changed, _ = changed.without_words(["nothing"])
    assert (changed.style, changed.style_instruction) == ("custom", settings.style_instruction)
    assert changed.with_style("summary").style_instruction is None
    assert changed.with_style("off").style == "off"
    assert not changed.with_style("off").is_default
    assert ChatSettings().with_style("summary").with_style(None).is_default
    long = ChatSettings().with_style("custom", "x" * 2000)
    assert len(long.style_instruction or "") == MAX_STYLE_INSTRUCTION_CHARS


@pytest.mark.parametrize(
    ("style", "instruction"), [("poem", None), ("custom", None), ("custom", " \n")]
)
def test_an_unknown_style_or_a_custom_one_without_instruction_is_refused(
    style: str, instruction: str | None
) -> None:
    with pytest.raises(ValueError, match="style"):
        ChatSettings().with_style(style, instruction)


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    manager.use_chat_settings(opened)
    yield opened
    await opened.close()


async def test_styles_are_stored_and_old_settings_still_load(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_style("custom", "As a tweet"))
    await manager.update_chat_settings(2, lambda s: s.with_style("off"))
    # Written by the version before styles, and by a later one with a style this one lacks.
    with sqlite3.connect(library.chat_settings.path) as db:
        db.execute(
            "INSERT INTO chat_settings (chat_id, settings, updated_at) VALUES (?, ?, ?)",
            (3, '{"language": "de", "vocabulary": ["Zoë"]}', "2026-01-01T00:00:00+00:00"),
        )
        db.execute(
            "INSERT INTO chat_settings (chat_id, settings, updated_at) VALUES (?, ?, ?)",
            (4, '{"language": "fr", "style": "haiku", "color": "red"}', "2026-01-01"),
        )
    assert await manager.get_chat_settings(1) == ChatSettings(
        style="custom", style_instruction="As a tweet"
    )
    assert (await manager.get_chat_settings(2)).style == "off"
    assert await manager.get_chat_settings(3) == ChatSettings(language="de", vocabulary=("Zoë",))
    assert await manager.get_chat_settings(4) == ChatSettings(language="fr")
    # /forget all removes the style with the rest.
    assert await manager.delete_chat_settings(1)
    assert await manager.get_chat_settings(1) == ChatSettings()


async def test_notes_are_kept_in_the_session_folder_owner_only(
    manager: FileSessionManager,
) -> None:
    session = await transcribed(manager)
    folder = manager.folder(session.session_id)
    await asyncio.to_thread(folder.write_note, "summary", "# Hi\n")
    await asyncio.to_thread(folder.write_note, "reply-42", "shorter")
    await asyncio.to_thread(folder.write_notes_state, {"notes": {}, "latest": "summary"})
    assert folder.read_note("summary") == "# Hi\n"
    assert folder.note_keys() == ["reply-42", "summary"]
    assert folder.read_notes_state() == {"notes": {}, "latest": "summary"}
    assert stat.S_IMODE(folder.notes_dir.stat().st_mode) == 0o700
    for path in folder.notes_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Deleting the audio (retention's first step) keeps them, like the transcripts.
    await manager.remove_audio(session.session_id)
    assert folder.read_note("summary") == "# Hi\n"
    await asyncio.to_thread(folder.remove_notes)
    assert folder.note_keys() == []
    assert folder.read_notes_state() == {}


@pytest.mark.parametrize("key", ["../x", "a/b", ".hidden", "", "Summary", "x" * 41, "a\0b"])
async def test_a_key_that_is_not_a_plain_name_names_no_file(
    manager: FileSessionManager, key: str
) -> None:
    session = await transcribed(manager)
    folder = manager.folder(session.session_id)
    with pytest.raises(ValueError, match="note key"):
        folder.write_note(key, "text")
    assert folder.read_note(key) is None
    assert not folder.notes_dir.exists()


async def test_a_deleted_session_is_never_revived_by_its_note(manager: FileSessionManager) -> None:
    session = await transcribed(manager)
    folder = manager.folder(session.session_id)
    await asyncio.to_thread(folder.write_note, "summary", "kept with the folder")
    await manager.delete_session(session.session_id)
    assert not folder.path.exists()
    with pytest.raises(FileNotFoundError):
        folder.write_note("summary", "late answer")
    with pytest.raises(FileNotFoundError):
        folder.write_notes_state({"notes": {}})
    assert not folder.path.exists()
