"""What every processor is: the :class:`Processor` protocol and its :class:`ProcessorError`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sessions import Session, SessionFolder


class ProcessorError(Exception):
    """A processor failed. ``message`` is one line for people; ``details`` go to metadata."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@runtime_checkable
class Processor(Protocol):
    """Turns a transcribed session into files in its ``process/output/``."""

    name: str

    async def run(self, session: Session, folder: SessionFolder) -> None:
        """Write the session's outputs through ``folder``; raise ProcessorError on failure."""
        ...


def within_session(text: str, session_dir: Path) -> str:
    """``text`` with the session folder's server path made relative to the folder.

    For messages shown in the chat, which has no business knowing where sessions live.
    """
    folder = str(session_dir)  # the storage's own: absolute and resolved
    return text.replace(folder + os.sep, "").replace(folder, "the session folder")
