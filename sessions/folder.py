"""One session's folder: every file the other packages read or write in it goes through here.

Only ``sessions`` knows the layout (``audio/``, ``transcripts/``, ``process/input.txt``,
``process/output/``, ``notes/``), the file names, the atomic writes and the owner-only modes.
The methods block (they touch the disk, some fsync): call them from a worker thread, except
the async :meth:`SessionFolder.audio_upload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import structlog

from sessions.atomic import dump_json_atomic, fsync_path, write_atomic
from sessions.layout import (
    AUDIO_DIR,
    FILE_MODE,
    TRANSCRIPTS_DIR,
    audio_filename,
    is_plain_filename,
    transcript_filename,
)
from sessions.note_files import NoteFiles
from sessions.process_files import ProcessFiles
from sessions.storage import partial_name
from sessions.transcripts import Transcript, transcript_from_json, transcript_to_json

_log = structlog.get_logger("sessions.folder")


class AudioWriter:
    """The temporary file of an :class:`AudioUpload`, open for writing."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._handle.write, chunk)

    async def close(self) -> None:
        await asyncio.to_thread(self._handle.close)


class AudioUpload:
    """A note's audio being written under its temporary name, until :meth:`commit`."""

    def __init__(self, partial: Path, destination: Path) -> None:
        self.path = partial  # where the bytes are until committed (to measure them)
        self._destination = destination

    async def open(self) -> AudioWriter:
        """Start writing from the beginning (a retried download starts afresh).

        The caller closes the writer; OSError as the disk reports it.
        """
        return AudioWriter(await asyncio.to_thread(_open_private, self.path))

    async def commit(self) -> None:
        """fsync the file, rename it to its final name and fsync the folder."""
        await asyncio.to_thread(_commit, self.path, self._destination)


class SessionFolder(NoteFiles, ProcessFiles):
    """The files of one session, by meaning rather than by path (the written notes' files:
    :class:`~sessions.note_files.NoteFiles`; the processing stage's:
    :class:`~sessions.process_files.ProcessFiles`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # -- audio ---------------------------------------------------------------------------

    @staticmethod
    def audio_filename(sequence: int, extension: str = ".ogg") -> str:
        """File name of note ``sequence``'s audio (other formats keep their extension)."""
        return audio_filename(sequence, extension)

    def audio_path(self, filename: str) -> Path:
        """Where a note's audio file is (for a transcriber to read); ValueError for a name
        that is not a plain one (see :meth:`has_audio`)."""
        path = self._inside(AUDIO_DIR, filename)
        if path is None:
            raise ValueError(f"not a plain file name: {filename!r}")
        return path

    def has_audio(self, filename: str) -> bool:
        """Whether the note's audio is there. A name that is not plain (absolute, with a
        separator or ``..``: metadata.json written by another tool) names no audio: the
        note fails alone, as one whose file is missing."""
        path = self._inside(AUDIO_DIR, filename)
        return path is not None and path.is_file()

    @contextlib.asynccontextmanager
    async def audio_upload(self, filename: str) -> AsyncIterator[AudioUpload]:
        """Store a note's audio atomically: written under a hidden ``.part`` name with mode
        0600 and renamed by :meth:`AudioUpload.commit`; without a commit nothing stays."""
        upload = AudioUpload(
            self.path / AUDIO_DIR / partial_name(filename), self.audio_path(filename)
        )
        try:
            yield upload
        finally:
            await asyncio.to_thread(_remove, upload.path)

    def remove_audio(self, filename: str) -> None:
        """Delete a note's audio file (a note that was not recorded after all)."""
        _remove(self._inside(AUDIO_DIR, filename))

    def remove_entry_files(self, sequence: int, audio: str, transcript: str | None) -> None:
        """Delete note ``sequence``'s audio file ``audio`` and its transcript files (text,
        timed detail, and ``transcript`` if it has another name), durably; missing files
        are no error. A name that is not plain deletes nothing (never a file elsewhere)."""
        transcripts = self.path / TRANSCRIPTS_DIR
        names = {transcript_filename(sequence), transcript_filename(sequence, ".json")}
        if transcript is not None:
            names.add(transcript)
        # The text file first: its presence is what marks a note as transcribed.
        for name in sorted(names, key=lambda n: not n.endswith(".txt")):
            _remove(self._inside(TRANSCRIPTS_DIR, name))
        _remove(self._inside(AUDIO_DIR, audio))
        for folder in (transcripts, self.path / AUDIO_DIR):
            with contextlib.suppress(FileNotFoundError):
                fsync_path(folder)

    def remove_all_audio(self) -> int:
        """Delete every audio file of the session, durably; returns how many there were.

        Files still being written (hidden ``.part`` names) are left to their upload, which
        removes them itself.
        """
        return _remove_files_in(self.path / AUDIO_DIR)

    # -- transcripts ---------------------------------------------------------------------

    def write_transcript(self, sequence: int, transcript: Transcript) -> str:
        """Store note ``sequence``'s transcript; returns the text file's name.

        The timed detail (JSON) is written first and the text last: the text file's
        presence is what marks the note as done.
        """
        folder = self.path / TRANSCRIPTS_DIR
        detail = {"sequence": sequence, **transcript_to_json(transcript)}
        dump_json_atomic(folder / transcript_filename(sequence, ".json"), detail)
        text = (transcript.text + "\n").encode("utf-8") if transcript.text else b""
        name = transcript_filename(sequence)
        write_atomic(folder / name, text)
        return name

    def remove_all_transcripts(self) -> int:
        """Delete every transcript of the session (texts and timed segments), durably;
        returns how many files there were.

        A transcript being written meanwhile (a hidden temporary name) is left to its
        writer, which deletes it again when it finds the note gone.
        """
        return _remove_files_in(self.path / TRANSCRIPTS_DIR)

    def remove_transcript(self, sequence: int) -> None:
        """Delete note ``sequence``'s transcript (text and detail), whatever is there."""
        for extension in (".txt", ".json"):
            _remove(self.path / TRANSCRIPTS_DIR / transcript_filename(sequence, extension))

    def has_transcript_text(self, filename: str | None) -> bool:
        """Whether the note's transcript text is there (never under a name that is not
        plain: such a note is transcribed again, under its own name)."""
        path = None if filename is None else self._inside(TRANSCRIPTS_DIR, filename)
        return path is not None and path.is_file()

    def read_transcript_text(self, sequence: int, filename: str | None = None) -> str | None:
        """Note ``sequence``'s transcript text, stripped; None when there is none (or its
        name is not a plain one: no file outside the session is ever read)."""
        path = self._inside(TRANSCRIPTS_DIR, filename or transcript_filename(sequence))
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None

    def read_transcript(self, sequence: int) -> Transcript | None:
        """Note ``sequence``'s transcript with its segments; None if missing or unreadable."""
        path = self.path / TRANSCRIPTS_DIR / transcript_filename(sequence, ".json")
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        return transcript_from_json(data) if isinstance(data, dict) else None

    def _inside(self, sub: str, name: str) -> Path | None:
        """``sub/name`` in this session's folder, or None (logged) when ``name`` is not a
        plain file name. metadata.json is read as data that other tools may write: an
        absolute name or one with ``..`` must never reach a file outside the session (and
        /undo delete it)."""
        if is_plain_filename(name):
            return self.path / sub / name
        _log.warning("unsafe_file_name", session_id=self.path.name, name=repr(name)[:100])
        return None


def _open_private(path: Path) -> BinaryIO:
    # Closed by the caller (in a thread), after the last chunk.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "wb")


def _commit(temporary: Path, destination: Path) -> None:
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, destination)
    fsync_path(destination.parent)


def _remove_files_in(folder: Path) -> int:
    """Delete the plain files of ``folder`` that are not hidden, durably; how many there were."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed += 1
    if removed:
        fsync_path(folder)
    return removed


def _remove(path: Path | None) -> None:
    if path is None:  # a name that is not plain: nothing of ours to delete
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
