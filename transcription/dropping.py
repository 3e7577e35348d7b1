"""Transcriber calls grouped by session, so the calls of a session that went away stop.

When a note's session is cancelled (``/cancel``) or deleted (``/forget``), its notes are
not wanted any more. Cutting off the call that waits for one makes the transcriber give it
up: with the task queue, the job is marked cancelled and its result deleted, so a worker
that has not started it skips it and nothing of it stays in Redis; in process, a run that
has not started never does. The run then ends as :class:`~transcription.pipeline.EntryGone`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path

import structlog

from transcription.engine import Transcriber, TranscriptResult
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.pipeline import EntryGone, run_timed

_log = structlog.get_logger("transcription.dropping")

# Sessions dropped lately, so that a run past its first check does not start a call for one
# (a run checks its session when it starts; the drop may come between). Ids are small.
_REMEMBERED = 1024


class SessionCalls:
    """Hands out a transcriber per session and cuts off a session's calls on demand."""

    def __init__(self, transcriber: Transcriber) -> None:
        self._transcriber = transcriber
        self._calls: dict[str, set[asyncio.Task[TranscriptResult]]] = {}
        self._dropped: OrderedDict[str, None] = OrderedDict()

    def for_session(self, session_id: str) -> SessionTranscriber:
        """The transcriber for the notes of ``session_id``."""
        return SessionTranscriber(self, session_id)

    def drop(self, session_id: str) -> int:
        """Cut off the session's calls in flight, and refuse new ones; how many were cut."""
        self._dropped[session_id] = None
        self._dropped.move_to_end(session_id)
        while len(self._dropped) > _REMEMBERED:
            self._dropped.popitem(last=False)
        calls = [c for c in self._calls.get(session_id, ()) if not c.done()]
        for call in calls:
            call.cancel()
        if calls:
            _log.info("transcription_dropped", session_id=session_id, calls=len(calls))
        return len(calls)

    async def call(
        self, session_id: str, path: Path, run_timeout: float | None, options: DecodeOptions
    ) -> TranscriptResult:
        if session_id in self._dropped:
            raise EntryGone(f"session {session_id} was cancelled or deleted")
        call = asyncio.create_task(run_timed(self._transcriber, path, run_timeout, options))
        calls = self._calls.setdefault(session_id, set())
        calls.add(call)
        try:
            return await call  # a cancelled caller cancels the call too
        except asyncio.CancelledError:
            current = asyncio.current_task()
            cut_off = call.cancelled() and session_id in self._dropped
            if cut_off and (current is None or not current.cancelling()):
                raise EntryGone(f"session {session_id} was cancelled or deleted") from None
            raise
        finally:
            calls.discard(call)
            if not calls:
                self._calls.pop(session_id, None)


class SessionTranscriber:
    """A :class:`~transcription.engine.TimedTranscriber` for one session's notes."""

    def __init__(self, calls: SessionCalls, session_id: str) -> None:
        self._calls = calls
        self._session_id = session_id

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        return await self._calls.call(self._session_id, path, None, options)

    async def transcribe_timed(
        self, path: Path, run_timeout: float | None, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        return await self._calls.call(self._session_id, path, run_timeout, options)

    async def aclose(self) -> None:
        """Nothing of its own to release: the shared transcriber is closed by its owner."""


__all__ = ["SessionCalls", "SessionTranscriber"]
