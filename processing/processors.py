"""Processors: what the processing stage does with a transcribed session.

A processor reads the session folder and writes into its ``process/output/``. It raises
:class:`ProcessorError` when the work failed; the service records it and moves the
session to ERROR.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TypeGuard

from processing.base import Processor, ProcessorError
from processing.command import CommandProcessor
from processing.settings import MARKDOWN, ProcessingSettings
from sessions import AudioEntry, Session, TranscriptionStatus
from sessions.formatting import format_duration
from sessions.layout import PROCESS_OUTPUT_DIR, TRANSCRIPTS_DIR, transcript_filename
from sessions.storage import write_atomic

__all__ = [
    "CommandProcessor",
    "MarkdownProcessor",
    "Processor",
    "ProcessorError",
    "build_processor",
    "render_markdown",
    "render_srt",
    "srt_timestamp",
]

MARKDOWN_FILE = "session.md"
SRT_FILE = "session.srt"


def build_processor(settings: ProcessingSettings, secrets: Iterable[str] = ()) -> Processor | None:
    """The processor ``PROCESSOR`` asks for; None when the stage is off.

    ``secrets`` (the bot's token, webhook secret, Redis URL) are taken out of whatever a
    command prints before it is stored or shown.
    """
    if settings.processor is None:
        return None
    if settings.processor == MARKDOWN:
        return MarkdownProcessor()
    command = settings.command
    if command is None:  # pragma: no cover - the settings validator rules this out
        raise ValueError(f"unknown processor: {settings.processor!r}")
    return CommandProcessor(
        command,
        settings.processor_timeout_seconds,
        pass_env=settings.passed_env,
        secrets=secrets,
    )


# -- markdown ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cue:
    start: float
    end: float
    text: str


class MarkdownProcessor:
    """Built in: ``session.md``, a readable document, and ``session.srt``, subtitles."""

    name: str = "markdown"

    async def run(self, session: Session, session_dir: Path) -> None:
        await asyncio.to_thread(self._write, session, session_dir)

    def _write(self, session: Session, session_dir: Path) -> None:
        output = session_dir / PROCESS_OUTPUT_DIR
        output.mkdir(parents=True, exist_ok=True)
        write_atomic(output / MARKDOWN_FILE, render_markdown(session, session_dir).encode())
        write_atomic(output / SRT_FILE, render_srt(session, session_dir).encode())


def render_markdown(session: Session, session_dir: Path) -> str:
    """The session as a markdown document (blocking: reads the transcripts)."""
    created = session.created_at.astimezone(UTC)
    entries = sorted(session.audio_entries, key=lambda e: e.sequence)
    count = len(entries)
    notes = "1 note" if count == 1 else f"{count} notes"
    lines = [
        f"# Voice notes, {created:%Y-%m-%d %H:%M} UTC",
        "",
        f"Session `{session.session_id}` · {notes} · "
        f"{format_duration(session.total_duration_seconds)} in all",
    ]
    if not entries:
        lines += ["", "_No voice notes._"]
    for n, entry in enumerate(entries, start=1):
        received = entry.received_at.astimezone(UTC)
        when = f"{received:%H:%M:%S} UTC"
        if received.date() != created.date():
            when = f"{received:%Y-%m-%d} {when}"
        lines += [
            "",
            f"## Note {n} · {when} · {format_duration(entry.duration_seconds)}",
            "",
            _note_body(entry, session_dir),
        ]
    return "\n".join(lines) + "\n"


def _note_body(entry: AudioEntry, session_dir: Path) -> str:
    if entry.transcription_status is TranscriptionStatus.FAILED:
        reason = _escape_emphasis(entry.error or "unknown error")
        return f"_Could not be transcribed: {reason}_"
    text = _read_transcript(entry, session_dir)
    if text is None:
        return "_Transcript missing._"
    return text or "_No speech recognised._"


def _read_transcript(entry: AudioEntry, session_dir: Path) -> str | None:
    if entry.transcription_status is not TranscriptionStatus.COMPLETED:
        return None
    name = entry.transcript_filename or transcript_filename(entry.sequence)
    try:
        return (session_dir / TRANSCRIPTS_DIR / name).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _escape_emphasis(text: str) -> str:
    flat = " ".join(text.split())
    return flat.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*")


def render_srt(session: Session, session_dir: Path) -> str:
    """Every note's segments on one timeline, each note starting where the last ended."""
    cues: list[_Cue] = []
    offset = 0.0
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        detail = _read_detail(entry, session_dir)
        length = entry.duration_seconds
        if detail is not None:
            measured = detail.get("duration_seconds")
            if (
                isinstance(measured, int | float)
                and not isinstance(measured, bool)
                and measured > 0
            ):
                length = float(measured)
            for start, end, text in _segments(detail):
                begin = offset + start
                if cues:
                    begin = max(begin, cues[-1].start)
                cues.append(_Cue(begin, max(offset + end, begin), text))
                length = max(length, end)
        offset += max(length, 0.0)
    blocks = [
        f"{n}\n{srt_timestamp(cue.start)} --> {srt_timestamp(cue.end)}\n{cue.text}\n"
        for n, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def _read_detail(entry: AudioEntry, session_dir: Path) -> dict[str, Any] | None:
    if entry.transcription_status is not TranscriptionStatus.COMPLETED:
        return None
    path = session_dir / TRANSCRIPTS_DIR / transcript_filename(entry.sequence, ".json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _segments(detail: dict[str, Any]) -> list[tuple[float, float, str]]:
    found: list[tuple[float, float, str]] = []
    raw = detail.get("segments")
    if not isinstance(raw, list):
        return found
    for item in raw:
        if not isinstance(item, dict):
            continue
        start, end, text = item.get("start"), item.get("end"), item.get("text")
        if not _is_number(start) or not _is_number(end):
            continue
        if not isinstance(text, str):
            continue
        # A blank line would end the cue early: keep the cue's text lines together.
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            found.append((max(float(start), 0.0), max(float(end), 0.0), "\n".join(lines)))
    return found


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def srt_timestamp(seconds: float) -> str:
    """``3723.5 -> "01:02:03,500"``."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
