"""The written notes' files in a session folder: ``notes/<key>.md`` and ``notes/state.json``.

Part of :class:`~sessions.folder.SessionFolder` (sessions alone knows the folder's layout).
The notes engine (:mod:`notes`) decides what the state says; here it is only kept, written
atomically. The notes live in the session's folder, so ``/forget`` and retention's deletion
of a whole session take them along; deleting only the audio leaves them, like transcripts.
The methods block: call them from a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from sessions.atomic import dump_json_atomic, fsync_path, make_dir, write_atomic
from sessions.layout import NOTES_DIR, NOTES_STATE

# A note's key names its file: a plain lower-case word ("summary", "reply-42"), never a
# name the model or a peer chose.
_KEY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def is_note_key(key: str) -> bool:
    """Whether ``key`` may name a note: lower-case letters, digits and dashes, at most 40."""
    return bool(_KEY.match(key))


def _checked(key: str) -> str:
    if not is_note_key(key):
        raise ValueError(f"not a note key: {key[:50]!r}")
    return key


class NoteFiles:
    """The notes' part of a session folder (mixed into ``SessionFolder``)."""

    path: Path

    @property
    def notes_dir(self) -> Path:
        return self.path / NOTES_DIR

    def write_note(self, key: str, text: str) -> None:
        """Store note ``key`` (Markdown) atomically, owner-only. FileNotFoundError when the
        session's folder is gone: a session deleted meanwhile never comes back as a folder."""
        name = f"{_checked(key)}.md"
        self._make_notes_dir()
        write_atomic(self.notes_dir / name, text.encode("utf-8"))

    def read_note(self, key: str) -> str | None:
        """Note ``key``'s text; None when it has none (or ``key`` is not a note key)."""
        if not is_note_key(key):
            return None
        try:
            return (self.notes_dir / f"{key}.md").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def note_keys(self) -> list[str]:
        """The keys of the notes stored, sorted."""
        try:
            names = [p.name for p in self.notes_dir.iterdir() if p.is_file()]
        except FileNotFoundError:
            return []
        return sorted(n[:-3] for n in names if n.endswith(".md") and is_note_key(n[:-3]))

    def remove_notes(self) -> None:
        """Delete every note and their state, durably."""
        if self.notes_dir.is_dir():
            shutil.rmtree(self.notes_dir, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                fsync_path(self.path)

    def read_notes_state(self) -> dict[str, Any]:
        """What the notes engine recorded (empty when nothing, or unreadable: the engine
        then owes nothing, and a tap makes a note again)."""
        try:
            data = json.loads((self.path / NOTES_STATE).read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_notes_state(self, state: dict[str, Any]) -> None:
        """Replace the notes' state atomically (FileNotFoundError when the session is gone)."""
        self._make_notes_dir()
        dump_json_atomic(self.path / NOTES_STATE, state)

    def _make_notes_dir(self) -> None:
        if not self.path.is_dir():
            raise FileNotFoundError(f"no session folder: {self.path.name}")
        make_dir(self.notes_dir)


__all__ = ["NoteFiles", "is_note_key"]
