"""``PROCESSOR=command:...``: the operator's shell command, run on a transcribed session.

The command line is the operator's configuration and is never altered: the session reaches
the program only through files named in its environment. That environment is built from an
allow-list, not copied from the bot's: see :data:`INHERITED`. What the command prints on
stderr is redacted (:class:`~runtime.redaction.Redactor`) before its end is stored in
``metadata.json`` or shown in the chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Iterable, Mapping
from typing import IO, Any

import structlog

from processing.base import ProcessorError, within_session
from processing.settings import NEVER_PASSED
from runtime.redaction import Redactor
from sessions import Session, SessionFolder

_log = structlog.get_logger("processing.command")

STDERR_TAIL_CHARS = 1000
KILL_GRACE_SECONDS = 2.0
_LOG_LINE_BYTES = 1 << 20  # stderr is copied (redacted) into the log a line, or 1 MiB, at a time

# What the command inherits from the bot's environment, and nothing more (besides the names
# in PROCESSOR_ENV): PATH to find its programs; HOME, USER and LOGNAME for tools that look up
# their user and their dot-files; the locale (LANG, LANGUAGE, LC_*) and time zone (TZ), so text
# and dates come out as the operator expects; TMPDIR for temporary files. Left out on
# purpose: the bot's secrets (BOT_TOKEN, WEBHOOK_SECRET, REDIS_URL) and any other credential
# the bot's environment may hold, and PYTHONPATH / VIRTUAL_ENV, which point at the bot's own
# packages and would bend the command's own Python.
INHERITED = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR"})
INHERITED_PREFIXES = ("LC_",)


class CommandProcessor:
    """Runs the operator's shell command on a session.

    It gets ``SESSION_DIR``, ``SESSION_ID``, ``CHAT_ID``, ``PROCESS_INPUT`` and
    ``PROCESS_OUTPUT_DIR``, runs in the output folder, in a process group of its own, with
    stdout and then stderr collected in ``processor.log``. A timeout, a cancellation or the
    command's end stops the whole group.
    """

    name: str = "command"

    def __init__(
        self,
        command: str,
        timeout_seconds: float,
        *,
        pass_env: Iterable[str] = (),
        secrets: Iterable[str] = (),
    ) -> None:
        if not command.strip():
            raise ValueError("the processor command is empty")
        if timeout_seconds <= 0:
            raise ValueError("the processor timeout must be positive")
        self.command = command
        self.timeout_seconds = timeout_seconds
        self.pass_env = tuple(n for n in pass_env if n.upper() not in NEVER_PASSED)
        self._secrets = tuple(secrets)

    def environment(
        self, session: Session, folder: SessionFolder, parent: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The command's environment: the allowed part of ``parent`` (this process's
        environment by default), PROCESSOR_ENV's names, and where the session's files are."""
        source = os.environ if parent is None else parent
        env = {
            name: value
            for name, value in source.items()
            if name in INHERITED or name.startswith(INHERITED_PREFIXES) or name in self.pass_env
        }
        env.setdefault("PATH", os.defpath)
        env.update(
            SESSION_DIR=str(folder.path),
            SESSION_ID=session.session_id,
            CHAT_ID=str(session.chat_id),
            PROCESS_INPUT=str(folder.process_input_path),
            PROCESS_OUTPUT_DIR=str(folder.output_dir),
        )
        return env

    def redactor(self) -> Redactor:
        """Takes out the bot's secrets and the values PROCESSOR_ENV passed on."""
        passed = [os.environ[name] for name in self.pass_env if name in os.environ]
        return Redactor([*self._secrets, *passed])

    async def run(self, session: Session, folder: SessionFolder) -> None:
        absolute = await asyncio.to_thread(folder.path.absolute)  # it runs elsewhere
        folder = SessionFolder(absolute)
        redact = self.redactor()
        stdout, stderr = await asyncio.to_thread(_open_outputs, folder)
        try:
            try:
                returncode = await self._execute(session, folder, stdout, stderr, redact)
            except ProcessorError:  # timed out: its stderr still belongs in the log
                await asyncio.to_thread(_finish_log, stdout, stderr, redact)
                raise
            stderr_tail = await asyncio.to_thread(_finish_log, stdout, stderr, redact)
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
        last = _last_line(within_session(stderr_tail, folder.path))
        raise ProcessorError(f"{message}: {last}" if last else message, details)

    async def _execute(
        self,
        session: Session,
        folder: SessionFolder,
        stdout: IO[bytes],
        stderr: IO[bytes],
        redact: Redactor,
    ) -> int:
        try:
            process = await asyncio.create_subprocess_shell(
                self.command,
                cwd=folder.output_dir,
                env=self.environment(session, folder),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as exc:
            # The reason, not the OSError's text: that names server paths (the cwd).
            reason = exc.strerror or type(exc).__name__
            raise ProcessorError(
                f"the command could not be started: {reason}", {"error": reason}
            ) from exc
        try:
            returncode = await asyncio.wait_for(process.wait(), self.timeout_seconds)
        except TimeoutError:
            status = await _stop_group(process)
            tail = await asyncio.to_thread(_tail, stderr, redact)
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


def _open_outputs(folder: SessionFolder) -> tuple[IO[bytes], IO[bytes]]:
    with contextlib.ExitStack() as stack:
        # Truncated: a rerun starts afresh.
        stdout = stack.enter_context(os.fdopen(folder.open_processor_log(), "wb"))
        stderr = stack.enter_context(tempfile.TemporaryFile())
        stack.pop_all()  # both stay open: the caller closes them
    return stdout, stderr


def _finish_log(log: IO[bytes], stderr: IO[bytes], redact: Redactor) -> str:
    """Append the command's stderr, redacted, to its log; returns its (redacted) end.

    Written through the descriptor opened before the command ran, never by the log's name:
    the command may have put a link there."""
    stderr.seek(0, os.SEEK_END)
    if stderr.tell() == 0:
        return ""
    stderr.seek(0)
    log.seek(0, os.SEEK_END)  # after what the command printed on stdout
    log.write(b"\n--- stderr ---\n")
    while line := stderr.readline(_LOG_LINE_BYTES):
        # surrogateescape: bytes that are not UTF-8 reach the log unchanged.
        text = redact(line.decode("utf-8", errors="surrogateescape"))
        log.write(text.encode("utf-8", errors="surrogateescape"))
    log.flush()
    return _tail(stderr, redact)


def _tail(stderr: IO[bytes], redact: Redactor) -> str:
    """The last STDERR_TAIL_CHARS characters of stderr, secrets taken out.

    Read with room for the longest secret before the part kept, so a secret that straddles
    where the tail starts is still recognised and replaced whole.
    """
    size = stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, size - STDERR_TAIL_CHARS * 4 - redact.longest))
    text = redact(stderr.read().decode("utf-8", errors="replace"))
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


__all__ = ["INHERITED", "CommandProcessor"]
