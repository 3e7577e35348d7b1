"""Durable, crash-safe storage of sessions as folders with a ``metadata.json``.

The methods here block (they fsync); the async :class:`~sessions.manager.FileSessionManager`
calls them from a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import structlog
from pydantic import ValidationError

from sessions.atomic import fsync_path, make_dir, write_atomic
from sessions.errors import CorruptSessionError, SessionNotFoundError
from sessions.ids import is_valid_session_id, sort_key
from sessions.layout import DIR_MODE, FILE_MODE
from sessions.models import Session

METADATA_FILE = "metadata.json"
SUBFOLDERS = ("audio", "transcripts", "process", "process/output")
_LOCK_FILE = ".lock"
# Hidden files with these endings are unfinished writes; at start they are leftovers.
PART_SUFFIX = ".part"
# write_atomic's temporary files are ".<name>.<8 random characters>.tmp" (tempfile.mkstemp).
_LEFTOVER = re.compile(r"\..+(\.[a-z0-9_]{8}\.tmp|\.part)")
# Book-keeping that is not a session lives in dot-folders, which never match a session id.
_ACTIVE_DIR = ".active"
# A deleted session's folder is renamed into here (atomic), then emptied; a crash in between
# leaves it here, never half a session under its own name. Emptied again at start.
TRASH_DIR = ".trash"
# The search index (library.index): SQLite's own files, left alone by the housekeeping.
LIBRARY_DIR = ".library"

_log = structlog.get_logger("sessions.storage")


class SessionStorage(ABC):
    """Where sessions are persisted. Implementations must make ``save`` atomic."""

    @abstractmethod
    def save(self, session: Session) -> None:
        """Persist session state atomically: readers see the old or the new state, never a mix."""

    @abstractmethod
    def load(self, session_id: str) -> Session | None:
        """Load a session; None if it does not exist. Raises CorruptSessionError if unreadable."""

    @abstractmethod
    def create_folder_structure(self, session_id: str) -> Path:
        """Create the session folder and its subfolders; FileExistsError if the id is taken."""

    @abstractmethod
    def list_all(self) -> list[str]:
        """All session ids, oldest first."""

    @abstractmethod
    def session_path(self, session_id: str) -> Path:
        """Folder of a session (validated id; SessionNotFoundError for a malformed one)."""

    @abstractmethod
    def lock(self, session_id: str) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock on one session, held across a read-modify-write (blocking)."""

    @abstractmethod
    def chat_lock(self, chat_id: int) -> contextlib.AbstractContextManager[None]:
        """Exclusive lock on a chat's choice of active session (blocking)."""

    @abstractmethod
    def read_active_marker(self, chat_id: int) -> str | None:
        """The session id last recorded as this chat's active one, if any (a hint to verify)."""

    @abstractmethod
    def write_active_marker(self, chat_id: int, session_id: str) -> None:
        """Record ``session_id`` as the chat's active session (under ``chat_lock``)."""

    @abstractmethod
    def active_markers(self) -> dict[int, str]:
        """Every chat's recorded active session id."""

    @abstractmethod
    def delete(self, session_id: str) -> None:
        """Delete the session and everything in it; SessionNotFoundError if there is none.

        A crash part of the way leaves either the whole session or nothing that looks like
        one (what is left is removed by :meth:`remove_leftovers`). The caller holds the
        session's lock.
        """

    @abstractmethod
    def book_dir(self, name: str) -> Path:
        """A folder for book-keeping beside the sessions (``.<name>``, never a session id),
        created if missing."""

    def remove_leftovers(self) -> list[Path]:
        """Delete what writes cut off by a crash left behind; returns what was removed.

        Only safe at start, before anything writes. Storages with nothing to clean keep
        this default.
        """
        return []

    def empty_trash(self) -> list[Path]:
        """Delete what deletions could not remove at the time (logged then); returns what
        went now. Safe at any time; what still cannot be removed is logged and stays for
        the next try. Storages with no trash keep this default."""
        return []


class FileSessionStorage(SessionStorage):
    """Sessions as folders under ``base_dir``, one ``metadata.json`` each.

    ``save`` writes a temporary file in the session folder, fsyncs it, renames it over
    ``metadata.json`` and fsyncs the folder, so a crash at any point leaves either the old
    or the new metadata. Locks are ``fcntl.flock`` locks on lock files, so they also
    exclude other processes on the same host.
    """

    def __init__(self, base_dir: Path | str) -> None:
        self.base_dir = Path(base_dir).resolve()

    # -- paths ---------------------------------------------------------------------------

    def session_path(self, session_id: str) -> Path:
        if not is_valid_session_id(session_id):
            raise SessionNotFoundError(f"not a session id: {session_id!r}")
        return self.base_dir / session_id

    def _metadata_path(self, session_id: str) -> Path:
        return self.session_path(session_id) / METADATA_FILE

    # -- contract ------------------------------------------------------------------------

    def save(self, session: Session) -> None:
        folder = self.session_path(session.session_id)
        if not folder.is_dir():
            raise SessionNotFoundError(f"session folder missing: {session.session_id}")
        data = session.model_dump_json(indent=2).encode()
        write_atomic(folder / METADATA_FILE, data)

    def load(self, session_id: str) -> Session | None:
        path = self._metadata_path(session_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CorruptSessionError(session_id, f"cannot read: {exc}") from exc
        try:
            session = Session.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "file"
            raise CorruptSessionError(session_id, f"{where}: {first['msg']}") from exc
        if session.session_id != session_id:
            raise CorruptSessionError(
                session_id, f"metadata names another session ({session.session_id!r})"
            )
        return session

    def create_folder_structure(self, session_id: str) -> Path:
        folder = self.session_path(session_id)
        make_dir(self.base_dir)
        folder.mkdir(mode=DIR_MODE)  # atomic: the mkdir that succeeds owns the id
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask; chmod is not
        for sub in SUBFOLDERS:
            make_dir(folder / sub)
        fsync_path(self.base_dir)
        return folder

    def list_all(self) -> list[str]:
        try:
            names = [e.name for e in os.scandir(self.base_dir) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        return sorted((n for n in names if is_valid_session_id(n)), key=sort_key)

    # -- locking and active markers -------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, session_id: str) -> Iterator[None]:
        folder = self.session_path(session_id)
        if not folder.is_dir():
            raise SessionNotFoundError(f"unknown session: {session_id}")
        with _flock(folder / _LOCK_FILE):
            yield

    @contextlib.contextmanager
    def chat_lock(self, chat_id: int) -> Iterator[None]:
        with _flock(self._active_dir() / f"{int(chat_id)}.lock"):
            yield

    def read_active_marker(self, chat_id: int) -> str | None:
        try:
            value = (self._active_dir() / str(int(chat_id))).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return value if is_valid_session_id(value) else None

    def write_active_marker(self, chat_id: int, session_id: str) -> None:
        self.session_path(session_id)  # validates
        write_atomic(self._active_dir() / str(int(chat_id)), session_id.encode())

    def active_markers(self) -> dict[int, str]:
        markers: dict[int, str] = {}
        for entry in os.scandir(self._active_dir()):
            if entry.name.endswith(".lock") or entry.name.startswith("."):
                continue
            try:
                chat_id = int(entry.name)
            except ValueError:
                continue
            value = self.read_active_marker(chat_id)
            if value is not None:
                markers[chat_id] = value
        return markers

    def delete(self, session_id: str) -> None:
        """Rename the folder into the trash (one atomic step, made durable), then empty it.

        Once renamed, the session is gone: a file in it that cannot be removed (a read-only
        folder a processor left) is logged and left in the trash for :meth:`empty_trash`,
        and the deletion still succeeds. A folder that cannot be renamed raises OSError and
        stays whole.
        """
        folder = self.session_path(session_id)
        trash = self.base_dir / TRASH_DIR
        make_dir(trash)
        target = trash / f"{session_id}.{secrets.token_hex(4)}"
        try:
            os.rename(folder, target)
        except FileNotFoundError:
            raise SessionNotFoundError(f"unknown session: {session_id}") from None
        fsync_path(self.base_dir)
        _remove_from_trash(target)

    def empty_trash(self) -> list[Path]:
        removed: list[Path] = []
        try:
            entries = list(os.scandir(self.base_dir / TRASH_DIR))
        except FileNotFoundError:
            return removed
        for entry in entries:
            if _remove_from_trash(Path(entry.path)):
                removed.append(Path(entry.path))
        return removed

    def remove_leftovers(self) -> list[Path]:
        """Delete partial downloads (``.<name>.part``) and the temporary files of
        :func:`write_atomic` (``.<name>.<random>.tmp``) in every session folder and its
        subfolders, and in the book-keeping dot-folders beside them (not the search
        index's); and what a deletion cut off by a crash, or one that failed, left in the
        trash. Nothing else is touched: not lock files, not other names. What cannot be
        removed is logged and left for the next start: it never stops the bot.
        """
        removed = self.empty_trash()
        folders: list[Path] = []
        with contextlib.suppress(FileNotFoundError):
            folders += [
                Path(e.path)
                for e in os.scandir(self.base_dir)
                if e.name.startswith(".")
                and e.name not in (TRASH_DIR, LIBRARY_DIR)
                and e.is_dir(follow_symlinks=False)
            ]
        for session_id in self.list_all():
            folder = self.session_path(session_id)
            folders += [folder, *(folder / sub for sub in SUBFOLDERS)]
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if _is_leftover(entry.name) and entry.is_file(follow_symlinks=False):
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    except OSError as exc:
                        _log.warning("leftover_not_removed", path=entry.path, error=str(exc))
                        continue
                    removed.append(Path(entry.path))
        return removed

    def book_dir(self, name: str) -> Path:
        path = self.base_dir / f".{name}"
        make_dir(path)
        return path

    def _active_dir(self) -> Path:
        path = self.base_dir / _ACTIVE_DIR
        make_dir(path)
        return path


def _remove_from_trash(path: Path) -> bool:
    """Delete ``path`` (a folder or a file in the trash); whether it is gone now. A failure
    is logged (``trash_not_emptied``) and what could not be removed stays, for the next
    try. Two of these may race on the same folder: what the other removed first is no error.
    """
    failures: list[str] = []

    def failed(
        function: object, name: str, info: tuple[type[BaseException], BaseException, object]
    ) -> None:
        if not isinstance(info[1], FileNotFoundError):
            failures.append(f"{name}: {info[1]}")

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, onerror=failed)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            failures.append(f"{path}: {exc}")
    if failures:
        _log.warning("trash_not_emptied", path=str(path), failures=len(failures), first=failures[0])
        return False
    return True


def partial_name(filename: str) -> str:
    """The hidden name a file is written under until it is complete (see remove_leftovers)."""
    return f".{filename}{PART_SUFFIX}"


def _is_leftover(name: str) -> bool:
    return bool(_LEFTOVER.fullmatch(name))


@contextlib.contextmanager
def _flock(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
