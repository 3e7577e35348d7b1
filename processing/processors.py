"""Processors: what the processing stage does with a transcribed session.

A processor reads the session folder and writes into its ``process/output/``. It raises
:class:`ProcessorError` when the work failed; the service records it and moves the
session to ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import IO, Any, Protocol, TypeGuard, runtime_checkable

import structlog

from processing.settings import MARKDOWN, ProcessingSettings
from sessions import AudioEntry, Session, TranscriptionStatus
from sessions.layout import PROCESS_INPUT, PROCESS_OUTPUT_DIR, TRANSCRIPTS_DIR, transcript_filename
from sessions.storage import write_atomic

_log = structlog.get_logger("processing.processors")

MARKDOWN_FILE = "session.md"
SRT_FILE = "session.srt"
LOG_FILE = "processor.log"

STDERR_TAIL_CHARS = 1000
KILL_GRACE_SECONDS = 2.0


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

    async def run(self, session: Session, session_dir: Path) -> None:
        """Write into ``session_dir/process/output``; raise ProcessorError on failure."""
        ...


def build_processor(settings: ProcessingSettings) -> Processor | None:
    """The processor ``PROCESSOR`` asks for; None when the stage is off."""
    if settings.processor is None:
        return None
    if settings.processor == MARKDOWN:
        return MarkdownProcessor()
    command = settings.command
    if command is None:  # pragma: no cover - the settings validator rules this out
        raise ValueError(f"unknown processor: {settings.processor!r}")
    return CommandProcessor(command, settings.processor_timeout_seconds)


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


def format_duration(seconds: float) -> str:
    """``65 -> "1:05"``, ``3725 -> "1:02:05"``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- external command ----------------------------------------------------------------------


class CommandProcessor:
    """Runs the operator's shell command on a session.

    The command line is the operator's configuration and is never altered: the session
    reaches the program only through files named in its environment (``SESSION_DIR``,
    ``SESSION_ID``, ``CHAT_ID``, ``PROCESS_INPUT``, ``PROCESS_OUTPUT_DIR``). It runs in the
    output folder, in a process group of its own, with stdout and then stderr collected in
    ``processor.log``. A timeout, a cancellation or the command's end stops the whole group.
    """

    name: str = "command"

    def __init__(self, command: str, timeout_seconds: float) -> None:
        if not command.strip():
            raise ValueError("the processor command is empty")
        if timeout_seconds <= 0:
            raise ValueError("the processor timeout must be positive")
        self.command = command
        self.timeout_seconds = timeout_seconds

    def environment(self, session: Session, session_dir: Path) -> dict[str, str]:
        """The command's environment: this process's, plus where the session's files are."""
        return {
            **os.environ,
            "SESSION_DIR": str(session_dir),
            "SESSION_ID": session.session_id,
            "CHAT_ID": str(session.chat_id),
            "PROCESS_INPUT": str(session_dir / PROCESS_INPUT),
            "PROCESS_OUTPUT_DIR": str(session_dir / PROCESS_OUTPUT_DIR),
        }

    async def run(self, session: Session, session_dir: Path) -> None:
        session_dir = await asyncio.to_thread(session_dir.absolute)  # it runs elsewhere
        output = session_dir / PROCESS_OUTPUT_DIR
        log_path = output / LOG_FILE
        stdout, stderr = await asyncio.to_thread(_open_outputs, output, log_path)
        try:
            try:
                returncode = await self._execute(session, session_dir, stdout, stderr)
            except ProcessorError:  # timed out: its stderr still belongs in the log
                await asyncio.to_thread(_finish_log, log_path, stderr)
                raise
            stderr_tail = await asyncio.to_thread(_finish_log, log_path, stderr)
        finally:
            stdout.close()
            stderr.close()
        if returncode == 0:
            return
        details: dict[str, Any] = {"exit_status": returncode, "stderr_tail": stderr_tail}
        if returncode < 0:
            message = f"the command was killed by {_signal_name(-returncode)}"
        else:
            message = f"the command exited with status {returncode}"
        last = _last_line(stderr_tail)
        raise ProcessorError(f"{message}: {last}" if last else message, details)

    async def _execute(
        self, session: Session, session_dir: Path, stdout: IO[bytes], stderr: IO[bytes]
    ) -> int:
        output = session_dir / PROCESS_OUTPUT_DIR
        try:
            process = await asyncio.create_subprocess_shell(
                self.command,
                cwd=output,
                env=self.environment(session, session_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessorError(
                f"the command could not be started: {exc}", {"error": str(exc)}
            ) from exc
        try:
            returncode = await asyncio.wait_for(process.wait(), self.timeout_seconds)
        except TimeoutError:
            status = await _stop_group(process)
            tail = await asyncio.to_thread(_tail, stderr)
            raise ProcessorError(
                f"the command did not finish within {self.timeout_seconds:g} s and was stopped",
                {
                    "timeout_seconds": self.timeout_seconds,
                    "exit_status": status,
                    "stderr_tail": tail,
                },
            ) from None
        except asyncio.CancelledError:
            await _stop_group(process)
            raise
        _signal_group(process.pid, signal.SIGKILL)  # leftovers of a finished command
        return returncode


def _open_outputs(output: Path, log_path: Path) -> tuple[IO[bytes], IO[bytes]]:
    output.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stdout = stack.enter_context(log_path.open("wb"))  # truncated: a rerun starts afresh
        stderr = stack.enter_context(tempfile.TemporaryFile())
        stack.pop_all()  # both stay open: the caller closes them
    return stdout, stderr


def _finish_log(log_path: Path, stderr: IO[bytes]) -> str:
    """Append the command's stderr to its log; returns the end of it."""
    stderr.seek(0, os.SEEK_END)
    if stderr.tell() == 0:
        return ""
    stderr.seek(0)
    with log_path.open("ab") as log:
        log.write(b"\n--- stderr ---\n")
        shutil.copyfileobj(stderr, log)
    return _tail(stderr)


def _tail(stderr: IO[bytes]) -> str:
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - STDERR_TAIL_CHARS * 4))
    text = stderr.read().decode("utf-8", errors="replace")
    return text[-STDERR_TAIL_CHARS:].strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= 200 else last[:199] + "…"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _stop_group(process: asyncio.subprocess.Process) -> int:
    """SIGTERM to the command's process group, SIGKILL after a grace period; its status."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:
        _log.warning("processor_kill", pid=process.pid)
    _signal_group(process.pid, signal.SIGKILL)
    return await process.wait()
