"""Names of the files and folders inside a session folder (the contract's layout)."""

from __future__ import annotations

AUDIO_DIR = "audio"
TRANSCRIPTS_DIR = "transcripts"
PROCESS_DIR = "process"
PROCESS_INPUT = "process/input.txt"
PROCESS_OUTPUT_DIR = "process/output"
NOTES_DIR = "notes"  # the written notes (notes/<key>.md) and their state
NOTES_STATE = "notes/state.json"

# Every stored file and folder gets one of these modes, whatever the process umask: sessions
# hold people's voices and words, so by default only the bot's own user may read them.
DIR_MODE = 0o700
FILE_MODE = 0o600


def entry_stem(sequence: int) -> str:
    """``7 -> "007_audio"``: the shared stem of an entry's audio and transcript files."""
    return f"{sequence:03d}_audio"


def audio_filename(sequence: int, extension: str = ".ogg") -> str:
    """File name of an entry's audio in ``audio/``; other formats keep their extension."""
    ext = extension if extension.startswith(".") else f".{extension}"
    return f"{entry_stem(sequence)}{ext.lower()}"


def transcript_filename(sequence: int, extension: str = ".txt") -> str:
    """File name of an entry's transcript in ``transcripts/``."""
    return f"{entry_stem(sequence)}{extension}"


def is_plain_filename(name: str) -> bool:
    """A name that stays inside its folder: not empty, no separator, not absolute, not
    hidden, not ``.`` or ``..``, no NUL. metadata.json may be written by other tools: only
    such names are ever joined to a session's folder (see :mod:`sessions.folder`)."""
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and not name.startswith(".")
    )
