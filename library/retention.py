"""Retention: audio and whole sessions deleted once they are older than the owner allows.

Two settings, both off by default (everything is kept): ``AUDIO_RETENTION_DAYS`` deletes the
audio of sessions transcribed more than N days ago (their transcripts stay), and
``SESSION_RETENTION_DAYS`` deletes whole sessions created more than N days ago. Every
deletion goes through the session manager (so its events reach the search index) and is
logged as ``retention_deleted``, with what and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import structlog
from pydantic import BaseModel, Field

from runtime.settings import ProjectSettings
from sessions.contract import SessionManager
from sessions.errors import InvalidStateError, SessionNotFoundError
from sessions.models import Session, SessionState, utc_now
from sessions.removal import AUDIO_REMOVABLE
from sessions.state_machine import is_terminal

_log = structlog.get_logger("library.retention")
_Outcome = Literal["deleted", "skipped", "failed"]

# Sessions nothing works on any more. COLLECTING, TRANSCRIBING and PROCESSING ones are
# never touched, however old: a chat, the transcriber or a processor still uses them.
SETTLED_STATES = (SessionState.TRANSCRIBED, SessionState.PROCESSED, SessionState.ERROR)


def delivery_over(session: Session) -> bool:
    """Whether the chat has had everything it is owed of ``session``: the transcript (or the
    word that it failed or was cancelled) and, once processing ended, the processor's files."""
    if session.delivered_at is None:
        return False
    if session.processing_due and not is_terminal(session.state):
        return False  # the processor still owes it a run (PROCESSED and ERROR owe nothing)
    processing_ended = session.state is SessionState.PROCESSED or (
        session.state is SessionState.ERROR
        and any(e.code == "processor_failed" for e in session.errors)
    )
    return not processing_ended or session.outputs_delivered_at is not None


class RetentionSettings(ProjectSettings):
    """How long recordings and sessions are kept; None (the default): for ever."""

    audio_retention_days: int | None = Field(default=None, gt=0)
    session_retention_days: int | None = Field(default=None, gt=0)

    @property
    def enabled(self) -> bool:
        return self.audio_retention_days is not None or self.session_retention_days is not None


class SweepReport(BaseModel):
    """What one sweep deleted (session ids), and what it could not."""

    audio_removed: list[str] = Field(default_factory=list)
    sessions_deleted: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


class RetentionSweeper:
    """Applies :class:`RetentionSettings` to the sessions of a manager."""

    def __init__(
        self,
        manager: SessionManager,
        settings: RetentionSettings,
        *,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._manager = manager
        self._settings = settings
        self._now = now

    async def sweep(self) -> SweepReport:
        """Delete what the settings no longer allow to keep; returns what went.

        - With ``SESSION_RETENTION_DAYS``: every TRANSCRIBED, PROCESSED or ERROR session
          created more than that many days ago, everything of it.
        - With ``AUDIO_RETENTION_DAYS``: the audio of every TRANSCRIBED, PROCESSED or ERROR
          session that reached TRANSCRIBED (``transcribed_at``) more than that many days
          ago; its transcripts stay.

        A session still COLLECTING, TRANSCRIBING or PROCESSING is never touched, whatever
        its age; nor the audio of an ERROR session that never got transcribed (it is all
        there is of it), until the session itself is old enough to go. A session that
        changed or went meanwhile is skipped; one that cannot be deleted is logged and
        listed in ``failed``, and the sweep goes on.
        """
        report = SweepReport()
        if not self._settings.enabled:
            return report
        started = time.perf_counter()
        await self._manager.empty_trash()  # what earlier deletions could not remove (logged)
        now = self._now()
        for session in await self._manager.sessions_in_states(*SETTLED_STATES):
            await self._apply(session, now, report)
        if report.audio_removed or report.sessions_deleted or report.failed:
            _log.info(
                "retention_swept",
                audio_removed=len(report.audio_removed),
                sessions_deleted=len(report.sessions_deleted),
                failed=len(report.failed),
                seconds=round(time.perf_counter() - started, 3),
            )
        return report

    async def run(self, stop: asyncio.Event, *, interval_seconds: float = 3600.0) -> None:
        """Sweep now, then every ``interval_seconds``, until ``stop`` is set. Returns at once
        when retention is off. A failed sweep is logged and the next one comes as usual."""
        if not self._settings.enabled:
            return
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                _log.exception("retention_sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)

    async def _apply(self, session: Session, now: datetime, report: SweepReport) -> None:
        if not delivery_over(session):
            return  # however old: the chat is still owed its transcript or the processor's files
        session_days = self._settings.session_retention_days
        audio_days = self._settings.audio_retention_days
        if session_days is not None and now - session.created_at > timedelta(days=session_days):
            why = f"created more than {session_days} days ago"
            outcome = await self._delete(session, "session", why, now - session.created_at)
            _record(report, session.session_id, outcome, report.sessions_deleted)
            return
        transcribed = session.transcribed_at
        if (
            audio_days is not None
            and transcribed is not None
            and session.audio_removed_at is None
            and session.state in AUDIO_REMOVABLE
            and now - transcribed > timedelta(days=audio_days)
        ):
            why = f"transcribed more than {audio_days} days ago"
            outcome = await self._delete(session, "audio", why, now - transcribed)
            _record(report, session.session_id, outcome, report.audio_removed)

    async def _delete(self, session: Session, what: str, why: str, age: timedelta) -> _Outcome:
        """Delete ``what`` (``session`` or ``audio``) of ``session``."""
        log = _log.bind(session_id=session.session_id, chat_id=session.chat_id, what=what)
        try:
            if what == "session":
                await self._manager.delete_session(session.session_id)
            else:
                await self._manager.remove_audio(session.session_id)
        except (SessionNotFoundError, InvalidStateError) as exc:
            log.info("retention_skipped", reason=str(exc))  # it changed or went meanwhile
            return "skipped"
        except Exception:
            log.exception("retention_failed", why=why)
            return "failed"
        log.info("retention_deleted", why=why, age_days=round(age / timedelta(days=1), 1))
        return "deleted"


def _record(report: SweepReport, session_id: str, outcome: _Outcome, deleted: list[str]) -> None:
    if outcome == "deleted":
        deleted.append(session_id)
    elif outcome == "failed":
        report.failed.append(session_id)


__all__ = ["RetentionSettings", "RetentionSweeper", "SweepReport"]
