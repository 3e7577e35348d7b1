"""The session manager's part that keeps who speaks inside its recordings: the session-wide
numbers of each diarized note's voices, and the names a chat gives them (``/speakers 1 Anna``).

A mixin of :class:`~sessions.manager.FileSessionManager`; both live in ``metadata.json``
(``speaker_numbers``, ``speaker_names``), changed through the manager's ``_mutate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sessions.models import Session
from sessions.write_queue import Events as _Events

if TYPE_CHECKING:
    from sessions.write_queue import Change as _Change

MAX_SPEAKER_NAME_CHARS = 40
"""A speaker's name is cut to this: it starts every turn of the transcript."""
MAX_SPEAKER_NUMBER = 99


def clean_speaker_name(name: str) -> str:
    """A speaker's name as stored: one line, single spaces, no control characters, at most
    :data:`MAX_SPEAKER_NAME_CHARS` characters ("" when nothing is left)."""
    flat = "".join(c if c.isprintable() else " " for c in name)
    return " ".join(flat.split())[:MAX_SPEAKER_NAME_CHARS].strip()


class SessionSpeakers:
    """The manager's speaker numbers and names, over its ``_mutate``."""

    if TYPE_CHECKING:

        async def _mutate(self, session_id: str, change: _Change) -> Session: ...

    async def set_speaker_numbers(
        self, session_id: str, numbers: Mapping[int, Sequence[int]]
    ) -> Session:
        """Record, per note (by sequence), its local speakers' session-wide numbers (1..n);
        replaces what was recorded. Idempotent."""
        stored = {str(seq): [int(n) for n in found] for seq, found in sorted(numbers.items())}

        def change(session: Session) -> _Events | None:
            if (session.speaker_numbers or {}) == stored:
                return None
            session.speaker_numbers = stored or None
            return []

        return await self._mutate(session_id, change)

    async def name_speaker(self, session_id: str, number: int, name: str | None) -> Session:
        """Name the session's speaker ``number`` (1-based, session-wide); None or a name
        that cleans to nothing removes the name. ValueError for a number out of 1..99."""
        if not 1 <= number <= MAX_SPEAKER_NUMBER:
            raise ValueError(f"no speaker number: {number}")
        cleaned = clean_speaker_name(name or "")

        def change(session: Session) -> _Events | None:
            names = dict(session.speaker_names or {})
            if cleaned:
                if names.get(str(number)) == cleaned:
                    return None
                names[str(number)] = cleaned
            elif names.pop(str(number), None) is None:
                return None
            session.speaker_names = dict(sorted(names.items(), key=lambda i: int(i[0]))) or None
            return []

        return await self._mutate(session_id, change)


__all__ = ["MAX_SPEAKER_NAME_CHARS", "SessionSpeakers", "clean_speaker_name"]
