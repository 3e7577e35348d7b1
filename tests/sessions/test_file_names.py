"""File names in metadata.json are data other tools may write: only plain names inside the
session's folder are ever used. An entry with any other name fails alone (as a note whose
file is missing); no file outside the session is read, transcribed or deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessions import FileSessionManager, Session, TranscriptionStatus
from sessions.layout import is_plain_filename
from tests.conftest import add_note
from tests.transcription.fakes import ScriptedTranscriber
from tests.transcription.test_worker import FAST
from transcription.pipeline import transcribe_entry


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x.ogg", "/etc/passwd", "a/b.ogg", "a\\b.ogg", "a\0b.ogg", ".hidden"],
)
def test_names_that_are_not_plain(name: str) -> None:
    assert not is_plain_filename(name)


@pytest.mark.parametrize("name", ["001_audio.ogg", "my note (2).m4a", "x..y.txt"])
def test_plain_names(name: str) -> None:
    assert is_plain_filename(name)


async def written_by_another_tool(
    manager: FileSessionManager, tmp_path: Path, **names: str
) -> tuple[Session, dict[str, Path]]:
    """An open session with notes 1 and 2; note 2's names are replaced in metadata.json
    (``filename``, ``transcript_filename``) by ones pointing at files outside the session."""
    session = await manager.create_session(chat_id=1)
    for message_id in (1, 2):
        session = await add_note(manager, session, message_id=message_id, data=b"text:mine")
    outside = {}
    for field in names:
        victim = tmp_path / f"victim-{field}"
        victim.write_bytes(b"text:not the session's")
        outside[field] = victim
    path = manager.get_session_path(session.session_id) / "metadata.json"
    data = json.loads(path.read_text())
    data["audio_entries"][1].update(
        {field: name.format(victim=outside[field]) for field, name in names.items()}
    )
    if "transcript_filename" in names:
        data["audio_entries"][1]["transcription_status"] = "COMPLETED"
    path.write_text(json.dumps(data))
    return await manager.require_session(session.session_id), outside


@pytest.mark.parametrize("form", ["{victim}", "../../../{victim}"])
async def test_undo_never_deletes_a_file_outside_the_session(
    manager: FileSessionManager, tmp_path: Path, form: str
) -> None:
    relative = "../../.." if form.startswith("..") else ""
    session, outside = await written_by_another_tool(
        manager,
        tmp_path,
        filename=form if not relative else f"{relative}/victim-filename",
        transcript_filename=form if not relative else f"{relative}/victim-transcript_filename",
    )
    assert session.audio_entries[1].filename != "002_audio.ogg"  # loaded, as written

    after = await manager.remove_entry(session.session_id, 2)  # /undo

    assert [e.sequence for e in after.audio_entries] == [1]
    assert all(victim.read_bytes() == b"text:not the session's" for victim in outside.values())


async def test_a_note_named_outside_fails_alone_and_nothing_outside_is_read(
    manager: FileSessionManager, tmp_path: Path
) -> None:
    session, _ = await written_by_another_tool(manager, tmp_path, filename="{victim}")
    sid = session.session_id
    await manager.finalize_session(sid)  # after /done (live, the note would wait for it)
    fake = ScriptedTranscriber()

    assert await transcribe_entry(manager, fake, sid, 1, FAST) is TranscriptionStatus.COMPLETED
    assert await transcribe_entry(manager, fake, sid, 2, FAST) is TranscriptionStatus.FAILED

    assert fake.calls == ["001_audio.ogg"]  # the file outside was never handed over
    after = await manager.require_session(sid)
    assert after.audio_entries[1].error is not None
    assert "missing" in after.audio_entries[1].error


async def test_a_transcript_named_outside_is_never_read(
    manager: FileSessionManager, tmp_path: Path
) -> None:
    session, outside = await written_by_another_tool(
        manager, tmp_path, transcript_filename="{victim}"
    )
    folder = manager.folder(session.session_id)
    name = session.audio_entries[1].transcript_filename
    assert name == str(outside["transcript_filename"])
    assert folder.read_transcript_text(2, name) is None
    assert not folder.has_transcript_text(name)
    assert not folder.has_audio(str(outside["transcript_filename"]))
    with pytest.raises(ValueError, match="not a plain file name"):
        folder.audio_path("../metadata.json")
