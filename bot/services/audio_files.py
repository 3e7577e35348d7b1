"""Which files sent to the bot are recordings, and the extension each is stored under."""

from __future__ import annotations

import mimetypes

# A file sent as a document is taken as a note when its name ends in one of these (what
# people send from recorders, phones and desktop apps), or its MIME type says audio (or
# video of a common container): PyAV reads them all and the real length is measured.
AUDIO_FILE_EXTENSIONS = frozenset(
    {
        "wav", "m4a", "mp3", "ogg", "oga", "opus", "flac", "aac", "mp4", "m4v", "webm",
        "mov", "mkv", "mka", "amr", "wma", "aif", "aiff", "3gp", "3gpp", "caf", "weba",
        "spx", "wv", "ac3", "mpga", "mpeg", "avi", "wmv",
    }
)  # fmt: skip
VIDEO_MIME_TYPES = frozenset(
    {
        "video/mp4", "video/webm", "video/quicktime", "video/x-matroska", "video/3gpp",
        "video/x-m4v", "video/mpeg", "video/x-msvideo", "video/x-ms-wmv", "video/ogg",
    }
)  # fmt: skip


def _name_extension(file_name: str | None) -> str | None:
    """The lower-case extension of ``file_name`` without its dot, or None."""
    if not file_name or "." not in file_name:
        return None
    return file_name.rsplit(".", 1)[1].lower() or None


def is_audio_file(file_name: str | None, mime_type: str | None) -> bool:
    """Whether a document named ``file_name`` of type ``mime_type`` is taken as a note.

    Its MIME type says audio (or a common video container), or its name ends in a common
    audio or video extension: a client that sends a .m4a as application/octet-stream is
    still understood.
    """
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("audio/") or mime in VIDEO_MIME_TYPES:
        return True
    return _name_extension(file_name) in AUDIO_FILE_EXTENSIONS


def file_extension(file_name: str | None, mime_type: str | None, *, default: str) -> str:
    """The extension a stored note keeps: the file name's, else one for its MIME type."""
    name_ext = _name_extension(file_name)
    if name_ext is not None and name_ext.isalnum() and len(name_ext) <= 5:
        return ".ogg" if name_ext == "oga" else "." + name_ext
    guessed = mimetypes.guess_extension(mime_type or "") if mime_type else None
    if guessed == ".oga":
        return ".ogg"
    return guessed or default
