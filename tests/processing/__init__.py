"""Tests of the processing stage. Helpers shared by its test modules live here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessions import FileSessionManager, Session, SessionState
from tests.conftest import add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionSettings, transcribe_session

FAST = TranscriptionSettings(
    transcription_retries=0,
    transcription_retry_backoff_seconds=0.01,
    transcription_timeout_base_seconds=5,
)


async def transcribed_session(
    manager: FileSessionManager,
    *notes: tuple[str, float],
    chat_id: int = 1,
    due: bool = True,
    fields: Sequence[Mapping[str, Any]] = (),
) -> Session:
    """A session whose notes (script, duration) went through the real transcription code.

    Scripts are those of :class:`ScriptedTranscriber`: ``text:<words>``, ``corrupt``...
    With ``due`` it is marked ``processing_due`` when finalized, as a running processing
    stage marks it. ``fields`` are more fields of each note's entry, in order (a speaker).
    """
    session = await manager.create_session(chat_id=chat_id)
    for n, (script, duration) in enumerate(notes):
        more = fields[n] if n < len(fields) else {}
        await add_note(
            manager, session, message_id=n + 1, duration=duration, data=script.encode(), **more
        )
    await manager.finalize_session(session.session_id)
    if due:
        await manager.mark_processing_due(session.session_id)
    done = await transcribe_session(manager, ScriptedTranscriber(), session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    return done


@dataclass(frozen=True)
class Cue:
    number: int
    start: float
    end: float
    text: str


_TIME = r"(\d{2}):(\d{2}):(\d{2}),(\d{3})"
_CUE = re.compile(rf"^(\d+)\n{_TIME} --> {_TIME}\n(.+)$", re.DOTALL)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[Cue]:
    """Strict enough to catch malformed output: every block must be a complete cue."""
    cues = []
    for block in text.strip().split("\n\n") if text.strip() else []:
        match = _CUE.match(block)
        assert match is not None, f"not an SRT cue: {block!r}"
        g = match.groups()
        cues.append(Cue(int(g[0]), _seconds(*g[1:5]), _seconds(*g[5:9]), g[9]))
    return cues


def output_dir(manager: FileSessionManager, session: Session) -> Path:
    return manager.get_session_path(session.session_id) / "process" / "output"
