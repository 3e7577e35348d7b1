"""The processing stage's files in a session folder: ``process/input.txt``, the output
folder ``process/output/`` with the processor's log, and the processing lock.

Part of :class:`~sessions.folder.SessionFolder` (sessions alone knows the folder's layout).
The outputs are written by a program the owner configured, so they are read without
following a link and only as plain files of bounded size. The methods block: call them from
a worker thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sessions.atomic import make_dir, write_atomic
from sessions.layout import DIR_MODE, FILE_MODE, PROCESS_DIR, PROCESS_INPUT, PROCESS_OUTPUT_DIR

# The processor's own log, in its output folder; it stays on the server.
PROCESSOR_LOG = "processor.log"
# In process/, not process/output/ (which is emptied before each run and sent to the chat).
_PROCESSING_LOCK = ".processing.lock"
_OUTPUT_PARTS = (PROCESS_DIR, Path(PROCESS_OUTPUT_DIR).name)


class UnreadableOutputError(Exception):
    """A processor output that cannot be sent as it is (a link, not a file, gone, too big)."""


@dataclass
class OutputListing:
    """What ``process/output/`` holds: regular files to send, and what is not sent."""

    files: list[tuple[str, int]] = field(default_factory=list)  # (name, size), non-empty
    empty: list[str] = field(default_factory=list)
    not_files: list[str] = field(default_factory=list)  # links, folders, fifos...


class ProcessFiles:
    """The processing stage's part of a session folder (mixed into ``SessionFolder``)."""

    path: Path

    @property
    def process_input_path(self) -> Path:
        """``process/input.txt``: the consolidated transcript handed to the processor."""
        return self.path / PROCESS_INPUT

    @property
    def output_dir(self) -> Path:
        """``process/output/``: where the processor writes what is sent to the chat."""
        return self.path / PROCESS_OUTPUT_DIR

    @property
    def processor_log_path(self) -> Path:
        return self.output_dir / PROCESSOR_LOG

    def write_process_input(self, text: str) -> None:
        write_atomic(self.process_input_path, text.encode("utf-8"))

    def read_process_input(self) -> str | None:
        """The consolidated transcript; None when it is missing."""
        try:
            return self.process_input_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write_output(self, name: str, data: bytes) -> None:
        """Store one output file atomically (owner-only)."""
        self._make_output_dir()
        write_atomic(self.output_dir / name, data)

    def open_processor_log(self) -> int:
        """A descriptor on the processor's log, created owner-only and truncated."""
        self._make_output_dir()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        fd = os.open(self.processor_log_path, flags, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        return fd

    def clear_output(self) -> None:
        """Empty the output folder (creating it), so a rerun leaves nothing of an earlier one."""
        self._make_output_dir()
        for child in self.output_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    child.unlink()

    def try_processing_lock(self) -> int | None:
        """A descriptor holding the session's processing lock; None if someone holds it.

        ``flock`` locks exclude other processes and other descriptors in this one; the lock
        goes with the descriptor (closing it, or a crash, releases it). Never creates a
        missing session's folder.
        """
        process = self.path / PROCESS_DIR
        if not process.is_dir():
            # FileNotFoundError when the session folder itself is gone.
            with contextlib.suppress(FileExistsError):  # made by a racing task meanwhile
                process.mkdir(mode=DIR_MODE)
            os.chmod(process, DIR_MODE)
        fd = os.open(process / _PROCESSING_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def list_outputs(self, left_out: frozenset[str] = frozenset({PROCESSOR_LOG})) -> OutputListing:
        """The processor's outputs, by name, sorted. Hidden files and ``left_out`` are not
        listed; a missing output folder is an empty listing. No link is followed."""
        listing = OutputListing()
        try:
            folder = self._open_output_dir()
        except FileNotFoundError:
            return listing
        except OSError:  # process/output itself replaced by a link or a file
            listing.not_files.append(PROCESS_OUTPUT_DIR)
            return listing
        try:
            for name in sorted(os.listdir(folder)):
                if name.startswith(".") or name in left_out:
                    continue
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    listing.not_files.append(name)
                elif info.st_size == 0:
                    listing.empty.append(name)
                else:
                    listing.files.append((name, info.st_size))
        finally:
            os.close(folder)
        return listing

    def open_output(self, name: str, max_bytes: int) -> int:
        """A read-only descriptor on the regular file ``name`` in ``process/output``.

        No link is followed on the way; anything but a non-empty regular file of at most
        ``max_bytes`` raises :class:`UnreadableOutputError`.
        """
        try:
            folder = self._open_output_dir()
        except OSError as exc:
            raise UnreadableOutputError("the output folder cannot be opened") from exc
        try:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a fifo: no wait
            fd = os.open(name, flags, dir_fd=folder)
        except OSError as exc:
            raise UnreadableOutputError(f"{name} cannot be opened as a plain file") from exc
        finally:
            os.close(folder)
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = f"{name} is not a plain file"
        elif info.st_size == 0:
            problem = f"{name} is empty"
        elif info.st_size > max_bytes:
            problem = f"{name} is over the upload limit"
        if problem is not None:
            os.close(fd)
            raise UnreadableOutputError(problem)
        return fd

    def _make_output_dir(self) -> None:
        """Create ``process/output`` if needed, but never the session folder itself: a
        session deleted while its processor ran must not come back as an empty folder."""
        if not self.path.is_dir():
            raise FileNotFoundError(f"no session folder: {self.path.name}")
        make_dir(self.output_dir)

    def _open_output_dir(self) -> int:
        """A descriptor on ``process/output``, reached without following a link."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in _OUTPUT_PARTS:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                inner = os.open(part, flags, dir_fd=fd)
                os.close(fd)
                fd = inner
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return fd


__all__ = ["PROCESSOR_LOG", "OutputListing", "ProcessFiles", "UnreadableOutputError"]
