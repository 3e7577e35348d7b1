"""Processors: what the processing stage does with a transcribed session.

A processor reads the session folder and writes into its ``process/output/``. It raises
:class:`ProcessorError` when the work failed; the service records it and moves the
session to ERROR.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, tzinfo

from processing.base import Processor, ProcessorError
from processing.command import CommandProcessor
from processing.settings import MARKDOWN, ProcessingSettings
from runtime.formatting import format_duration
from sessions import AudioEntry, Session, SessionFolder, Transcript, TranscriptionStatus
from sessions.speakers import labelled_line, note_source, speaker_labels
from sessions.turns import local_numbers, note_turns, turn_label

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
        return MarkdownProcessor(settings.zone)
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

    def __init__(self, zone: tzinfo = UTC) -> None:
        self._zone = zone  # the owner's time zone (TIMEZONE), for the times in session.md

    async def run(self, session: Session, folder: SessionFolder) -> None:
        await asyncio.to_thread(self._write, session, folder)

    def _write(self, session: Session, folder: SessionFolder) -> None:
        markdown = render_markdown(session, folder, self._zone)
        folder.write_output(MARKDOWN_FILE, markdown.encode())
        srt = render_srt(session, folder)
        if srt.strip():  # no recognised speech: no subtitles, rather than an empty file
            folder.write_output(SRT_FILE, srt.encode())


def render_markdown(session: Session, folder: SessionFolder, zone: tzinfo = UTC) -> str:
    """The session as a markdown document, its times in ``zone`` (blocking: reads the
    transcripts)."""
    created = session.created_at.astimezone(zone)
    label = str(zone)
    entries = sorted(session.audio_entries, key=lambda e: e.sequence)
    count = len(entries)
    notes = "1 note" if count == 1 else f"{count} notes"
    lines = [
        f"# Voice notes, {created:%Y-%m-%d %H:%M} {label}",
        "",
        f"Session `{session.session_id}` · {notes} · "
        f"{format_duration(session.total_duration_seconds)} in all",
    ]
    if not entries:
        lines += ["", "_No voice notes._"]
    speakers = speaker_labels(session)
    for n, entry in enumerate(entries, start=1):
        received = entry.received_at.astimezone(zone)
        when = f"{received:%H:%M:%S} {label}"
        if received.date() != created.date():
            when = f"{received:%Y-%m-%d} {when}"
        heading = [f"Note {n}", when, format_duration(entry.duration_seconds)]
        # Names and file names are the senders' own: written as text, never as markup.
        extra = (note_source(entry), speakers.get(entry.sequence))
        heading += [_escape_markdown(part) for part in extra if part]
        lines += ["", "## " + " · ".join(heading), "", _note_body(session, entry, folder)]
    return "\n".join(lines) + "\n"


def _note_body(session: Session, entry: AudioEntry, folder: SessionFolder) -> str:
    if entry.transcription_status is TranscriptionStatus.FAILED:
        reason = _escape_emphasis(entry.error or "unknown error")
        return f"_Could not be transcribed: {reason}_"
    text = None
    if entry.transcription_status is TranscriptionStatus.COMPLETED:
        text = folder.read_transcript_text(entry.sequence, entry.transcript_filename)
    if text is None:
        return "_Transcript missing._"
    turns = (
        note_turns(session, entry.sequence, folder.read_transcript(entry.sequence))
        if text
        else None
    )
    if turns is not None:  # a paragraph a turn, its speaker in bold (a chat's name: escaped)
        return "\n\n".join(
            f"**{_escape_markdown(turn_label(session, t.number))}:** {t.text}" for t in turns
        )
    return text or "_No speech recognised._"


def _escape_emphasis(text: str) -> str:
    flat = " ".join(text.split())
    return flat.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*")


def _escape_markdown(text: str) -> str:
    """``text`` on one line, every character markdown could read as markup escaped."""
    flat = " ".join(text.split())
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in flat)


# What can start markup in the middle of a heading (emphasis, code, links, HTML, entities).
_MARKDOWN_SPECIAL = frozenset("\\`*_[]<>#|~&")


def render_srt(session: Session, folder: SessionFolder) -> str:
    """Every note's segments on one timeline, each note starting where the last ended;
    each cue begun with its speaker ("Anna: ...") when the session is labelled."""
    cues: list[_Cue] = []
    offset = 0.0
    speakers = speaker_labels(session)
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        detail = _read_detail(entry, folder)
        length = entry.duration_seconds
        speaker = speakers.get(entry.sequence)
        if detail is not None:
            if detail.duration_seconds > 0:
                length = detail.duration_seconds
            voices = _cue_voices(session, entry.sequence, detail, speaker)
            for start, end, said, voice in _segments(detail, voices):
                # Each cue is shown alone: each says who speaks, when the session is labelled
                # or the note has several voices.
                text = labelled_line(voice, said)
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


def _read_detail(entry: AudioEntry, folder: SessionFolder) -> Transcript | None:
    if entry.transcription_status is not TranscriptionStatus.COMPLETED:
        return None
    return folder.read_transcript(entry.sequence)


def _cue_voices(
    session: Session, sequence: int, detail: Transcript, speaker: str | None
) -> list[str | None]:
    """Who speaks in each segment of the note: its label, and in a note of several voices
    the voice too ("Speaker 2", or "Anna (Speaker 2)" under a group's label)."""
    if note_turns(session, sequence, detail) is None:
        return [speaker] * len(detail.segments)
    numbers = local_numbers(session, sequence, detail)
    voices: list[str | None] = []
    current: str | None = None
    for segment in detail.segments:
        local = segment.speaker
        if local is not None and 0 <= local < len(numbers):
            current = turn_label(session, numbers[local])
        voices.append(current)
    first = next((v for v in voices if v is not None), None)
    voices = [v or first for v in voices]
    return [f"{speaker} ({v})" if speaker and v else v or speaker for v in voices]


def _segments(
    detail: Transcript, voices: list[str | None]
) -> list[tuple[float, float, str, str | None]]:
    found: list[tuple[float, float, str, str | None]] = []
    for segment, voice in zip(detail.segments, voices, strict=True):
        # A blank line would end the cue early: keep the cue's text lines together.
        lines = [line.strip() for line in segment.text.splitlines() if line.strip()]
        if lines:
            start, end = max(segment.start, 0.0), max(segment.end, 0.0)
            found.append((start, end, "\n".join(lines), voice))
    return found


def srt_timestamp(seconds: float) -> str:
    """``3723.5 -> "01:02:03,500"``."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
