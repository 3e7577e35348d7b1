"""Durable, owner-only file writes: the primitives every file this project keeps is
written with (the session folders, the library's databases' neighbours, the bot's books).

A write is atomic (a hidden temporary file, fsynced, renamed into place, the folder fsynced)
and gets exactly the mode asked for, whatever the umask.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from sessions.layout import DIR_MODE, FILE_MODE

# The suffix of write_atomic's temporary files (what remove_leftovers looks for).
TEMP_SUFFIX = ".tmp"


def make_dir(path: Path, mode: int = DIR_MODE) -> None:
    """Create ``path`` (and missing parents) with exactly ``mode``, whatever the umask.

    Folders that already existed keep their mode, except ``path`` itself, which gets ``mode``
    when this process owns it (a mounted volume owned by someone else is left as it is).
    """
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another thread made it first
            folder.mkdir(mode=mode)
        os.chmod(folder, mode)
    if not missing and path.stat().st_uid == os.geteuid() and (path.stat().st_mode & 0o777) != mode:
        os.chmod(path, mode)


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically and durably; the file gets exactly ``mode``.

    On any failure the previous content of ``path`` is untouched and the temporary file is
    removed. The temporary name starts with a dot, so it never looks like a session file.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)  # explicit, not whatever mkstemp or the umask would give
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """Make ``path`` durable: a directory's entries (a file made, renamed or removed in it),
    or a file's contents (the call opens either read-only)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dump_json_atomic(path: Path, payload: object) -> None:
    """Write ``payload`` as pretty JSON with :func:`write_atomic`."""
    write_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False).encode())


__all__ = ["TEMP_SUFFIX", "dump_json_atomic", "fsync_path", "make_dir", "write_atomic"]
