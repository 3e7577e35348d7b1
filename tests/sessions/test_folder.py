"""SessionFolder, the one owner of a session folder's layout: audio stored atomically from a
stream, transcripts with their segments, process input and outputs, owner-only modes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.updates.journal import UpdateJournal
from processing import MarkdownProcessor, ProcessingService
from sessions import (
    FileSessionManager,
    Transcript,
    TranscriptSegment,
    UnreadableOutputError,
)
from sessions.layout import DIR_MODE, FILE_MODE
from tests.processing import transcribed_session


def modes_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in root.rglob("*")}


async def test_audio_is_stored_only_when_committed(manager: FileSessionManager) -> None:
    session = await manager.create_session(1)
    folder = manager.folder(session.session_id)
    name = folder.audio_filename(1)
    async with folder.audio_upload(name) as upload:
        writer = await upload.open()
        await writer.write(b"half a note")
        await writer.close()
    assert not folder.has_audio(name)
    assert not upload.path.exists()  # the temporary file goes too

    async with folder.audio_upload(name) as upload:
        for attempt in (b"a first, cut-off try", b"the note"):  # a retry starts afresh
            writer = await upload.open()
            await writer.write(attempt)
            await writer.close()
        assert upload.path.read_bytes() == b"the note"  # measurable before it is committed
        assert upload.path.name.startswith(".")
        await upload.commit()
    assert folder.audio_path(name).read_bytes() == b"the note"
    assert folder.has_audio(name)
    await asyncio.to_thread(folder.remove_audio, name)
    assert not folder.has_audio(name)


async def test_transcript_round_trip(manager: FileSessionManager) -> None:
    folder = manager.folder((await manager.create_session(1)).session_id)
    transcript = Transcript(
        text="Hello there.",
        language="en",
        duration_seconds=2.5,
        segments=[TranscriptSegment(start=0.0, end=2.5, text="Hello there.")],
        speech_seconds=2.0,
    )
    name = folder.write_transcript(3, transcript)
    assert name == "003_audio.txt"
    assert folder.has_transcript_text(name)
    assert folder.read_transcript_text(3) == "Hello there."
    assert folder.read_transcript(3) == transcript
    assert folder.read_transcript(4) is None
    folder.write_process_input("Hello there.\n")
    assert folder.read_process_input() == "Hello there.\n"


async def test_outputs_are_listed_and_opened_without_following_links(
    manager: FileSessionManager, tmp_path: Path
) -> None:
    folder = manager.folder((await manager.create_session(1)).session_id)
    folder.write_output("notes.md", b"# notes")
    folder.write_output("empty.txt", b"")
    (tmp_path / "secret").write_bytes(b"not the session's")
    (folder.output_dir / "link.txt").symlink_to(tmp_path / "secret")
    os.close(folder.open_processor_log())
    listing = folder.list_outputs()
    assert listing.files == [("notes.md", 7)]
    assert listing.empty == ["empty.txt"]
    assert listing.not_files == ["link.txt"]  # the processor's log is not listed at all
    fd = folder.open_output("notes.md", max_bytes=100)
    try:
        assert os.pread(fd, 100, 0) == b"# notes"
    finally:
        os.close(fd)
    for name, limit in (("link.txt", 100), ("empty.txt", 100), ("notes.md", 3)):
        with pytest.raises(UnreadableOutputError):
            folder.open_output(name, max_bytes=limit)


@pytest.mark.usefixtures("permissive_umask")
async def test_processing_leaves_only_owner_only_files(manager: FileSessionManager) -> None:
    """The processing lock was created 0644 and its folders with a plain mkdir."""
    session = await transcribed_session(manager, ("text:private words", 2))
    service = ProcessingService(manager, MarkdownProcessor())
    await service.start()
    try:
        await asyncio.wait_for(service.wait_idle(), 10)
    finally:
        await service.stop()
    root = manager.get_session_path(session.session_id)
    # audio/ holds what the test itself wrote (add_note), not what the code under test did.
    modes = {p: m for p, m in modes_under(root).items() if not p.startswith("audio/")}
    assert {"process/.processing.lock", "process/output/session.md"} <= set(modes)
    folders = {p for p in modes if (root / p).is_dir()}
    assert {modes[p] for p in folders} == {DIR_MODE}
    assert {m for p, m in modes.items() if p not in folders} == {FILE_MODE}


@pytest.mark.usefixtures("permissive_umask")
async def test_the_update_journal_folder_is_owner_only(tmp_path: Path) -> None:
    """It was made with a plain mkdir, so a permissive umask left it open to all."""
    journal = UpdateJournal(tmp_path / "sessions" / ".telegram" / "updates.json")
    await journal.load(1)
    await journal.record(5)
    assert (tmp_path / "sessions" / ".telegram").stat().st_mode & 0o777 == DIR_MODE
    assert journal.path.stat().st_mode & 0o777 == FILE_MODE
