"""Retention on real session folders, with a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from library import RetentionSettings, RetentionSweeper, SweepReport
from processing import CommandProcessor, MarkdownProcessor, ProcessingService, Processor
from sessions import FileSessionManager, Session, SessionState
from tests.conftest import TIMEOUT_SCALE, add_note
from tests.processing import transcribed_session as transcribed_by_stage
from tests.processing.test_service import CountingProcessor
from tests.sessions.helpers import transcribed as transcribed_only

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def sweeper(
    manager: FileSessionManager,
    at: datetime,
    *,
    audio: int | None = None,
    sessions: int | None = None,
) -> RetentionSweeper:
    settings = RetentionSettings(audio_retention_days=audio, session_retention_days=sessions)
    return RetentionSweeper(manager, settings, now=lambda: at)


async def transcribed(
    manager: FileSessionManager, chat_id: int = 1, texts: list[str] | None = None
) -> Session:
    """A transcribed session whose transcript reached the chat (as the notifier records)."""
    session = await transcribed_only(manager, chat_id, texts)
    return await manager.mark_delivered(session.session_id)


def audio_files(manager: FileSessionManager, session: Session) -> list[str]:
    return sorted(os.listdir(manager.get_session_path(session.session_id) / "audio"))


def stamp(session: Session) -> datetime:
    assert session.transcribed_at is not None
    return session.transcribed_at


# -- audio -----------------------------------------------------------------------------------


async def test_audio_goes_n_days_after_transcription(manager: FileSessionManager) -> None:
    session = await transcribed(manager)
    sid = session.session_id

    early = await sweeper(manager, stamp(session) + 3 * DAY - MINUTE, audio=3).sweep()
    assert early == SweepReport()
    assert len(audio_files(manager, session)) == 2

    with capture_logs() as logs:
        report = await sweeper(manager, stamp(session) + 3 * DAY + MINUTE, audio=3).sweep()

    assert report == SweepReport(audio_removed=[sid])
    assert audio_files(manager, session) == []
    after = await manager.require_session(sid)
    assert after.audio_removed_at is not None
    assert after.state is SessionState.TRANSCRIBED
    assert manager.folder(sid).read_transcript_text(1) == "words of note 1"
    [deleted] = [e for e in logs if e["event"] == "retention_deleted"]
    assert (deleted["session_id"], deleted["what"]) == (sid, "audio")
    assert deleted["why"] == "transcribed more than 3 days ago"
    # Once gone, it is not "deleted" again.
    assert await sweeper(manager, stamp(session) + 30 * DAY, audio=3).sweep() == SweepReport()


async def processed(manager: FileSessionManager, processor: Processor, chat_id: int = 1) -> Session:
    """A session transcribed and then run through the real processing stage (finalized
    while it listens, so marked ``processing_due`` as in the bot), its transcript and the
    processor's outcome delivered as the notifier records them."""
    service = ProcessingService(manager, processor)
    await service.start()
    try:
        session = await transcribed_by_stage(manager, ("text:words of a note", 2), chat_id=chat_id)
        await asyncio.wait_for(service.wait_idle(), 10 * TIMEOUT_SCALE)
    finally:
        await service.stop()
    await manager.mark_delivered(session.session_id)
    return await manager.mark_outputs_delivered(session.session_id)


async def test_audio_of_processed_and_failed_sessions_goes_too(
    manager: FileSessionManager,
) -> None:
    done = await processed(manager, MarkdownProcessor())
    assert done.state is SessionState.PROCESSED
    failed_later = await processed(manager, CommandProcessor("exit 3", 10))
    assert failed_later.state is SessionState.ERROR
    assert [e.code for e in failed_later.errors] == ["processor_failed"]
    processing = await transcribed(manager)
    await manager.transition_state(processing.session_id, SessionState.PROCESSING)
    never_transcribed = await add_note(manager, await manager.create_session(chat_id=1))
    await manager.finalize_session(never_transcribed.session_id)
    await manager.transition_state(never_transcribed.session_id, SessionState.ERROR)
    collecting = await add_note(manager, await manager.create_session(chat_id=2))

    report = await sweeper(manager, stamp(processing) + 400 * DAY, audio=1).sweep()

    assert sorted(report.audio_removed) == sorted([done.session_id, failed_later.session_id])
    assert audio_files(manager, done) == audio_files(manager, failed_later) == []
    for kept in (processing, never_transcribed, collecting):
        assert audio_files(manager, kept) != [], kept.state


async def test_processed_sessions_go_whole_too(manager: FileSessionManager) -> None:
    done = await processed(manager, MarkdownProcessor())
    failed_later = await processed(manager, CommandProcessor("exit 3", 10), chat_id=2)

    report = await sweeper(manager, done.created_at + 30 * DAY, sessions=10).sweep()

    assert sorted(report.sessions_deleted) == sorted([done.session_id, failed_later.session_id])
    assert await manager.list_sessions() == []


async def test_a_session_left_marked_due_by_an_older_version_is_repaired_at_start(
    manager: FileSessionManager,
) -> None:
    # Processed by a version that never cleared the mark: "processing_due" still true.
    done = await processed(manager, MarkdownProcessor())
    owed = await transcribed_by_stage(manager, ("text:not processed yet", 2), chat_id=2)
    await manager.mark_delivered(owed.session_id)
    path = manager.get_session_path(done.session_id) / "metadata.json"
    data = json.loads(path.read_text())
    data["processing_due"] = True
    path.write_text(json.dumps(data))

    counting = CountingProcessor()
    service = ProcessingService(manager, counting)
    await service.start()  # repairs the ended session, and runs the one still owed
    await asyncio.wait_for(service.wait_idle(), 10 * TIMEOUT_SCALE)
    await service.stop()

    assert not (await manager.require_session(done.session_id)).processing_due
    assert counting.runs == [owed.session_id]
    report = await sweeper(manager, done.created_at + 30 * DAY, audio=1).sweep()
    assert done.session_id in report.audio_removed


# -- whole sessions --------------------------------------------------------------------------


async def test_sessions_go_n_days_after_creation(manager: FileSessionManager) -> None:
    old = await transcribed(manager)
    cancelled = await add_note(manager, await manager.create_session(chat_id=3))
    await manager.cancel_session(cancelled.session_id)
    await manager.mark_delivered(cancelled.session_id)
    at = max(old.created_at, cancelled.created_at) + 10 * DAY + MINUTE

    assert await sweeper(manager, at - 2 * MINUTE, sessions=10).sweep() == SweepReport()
    with capture_logs() as logs:
        report = await sweeper(manager, at, sessions=10, audio=1).sweep()

    assert sorted(report.sessions_deleted) == sorted([old.session_id, cancelled.session_id])
    assert report.audio_removed == []  # deleted whole, not first stripped of audio
    assert not manager.get_session_path(old.session_id).exists()
    assert not manager.get_session_path(cancelled.session_id).exists()
    deleted = [e for e in logs if e["event"] == "retention_deleted"]
    assert {(e["what"], e["why"]) for e in deleted} == {
        ("session", "created more than 10 days ago")
    }
    assert {e["chat_id"] for e in deleted} == {1, 3}


async def test_sessions_in_work_are_never_deleted(manager: FileSessionManager) -> None:
    collecting = await add_note(manager, await manager.create_session(chat_id=1))
    transcribing = await add_note(manager, await manager.create_session(chat_id=2))
    await manager.finalize_session(transcribing.session_id)
    processing = await transcribed(manager, chat_id=3)
    await manager.transition_state(processing.session_id, SessionState.PROCESSING)

    report = await sweeper(manager, processing.created_at + 999 * DAY, sessions=1).sweep()

    assert report == SweepReport()
    assert len(await manager.list_sessions()) == 3
    assert audio_files(manager, collecting) == ["001_audio.ogg"]


async def test_nothing_is_deleted_of_a_session_the_chat_is_still_owed(
    manager: FileSessionManager,
) -> None:
    # Transcribed long ago but not delivered yet (a bot down for weeks), owed processing, or
    # processed with the files not delivered yet: kept until the chat has had it all.
    undelivered = await transcribed_only(manager, chat_id=1)
    # Finalized while a processor was on (marked due), transcribed while it was not running.
    owed_processing = await transcribed_by_stage(manager, ("text:owed", 2), chat_id=2)
    await manager.mark_delivered(owed_processing.session_id)
    outputs_owed = await transcribed(manager, chat_id=3)
    service = ProcessingService(manager, MarkdownProcessor())
    service.submit(outputs_owed.session_id)
    await asyncio.wait_for(service.wait_idle(), 10 * TIMEOUT_SCALE)
    assert (await manager.require_session(outputs_owed.session_id)).state is SessionState.PROCESSED
    settled = await transcribed(manager, chat_id=4)

    report = await sweeper(manager, stamp(settled) + 99 * DAY, audio=1, sessions=5).sweep()

    assert report == SweepReport(sessions_deleted=[settled.session_id])
    for kept in (undelivered, owed_processing, outputs_owed):
        assert audio_files(manager, kept) != [], kept.session_id


async def test_retention_off_keeps_everything(manager: FileSessionManager) -> None:
    session = await transcribed(manager)
    report = await sweeper(manager, session.created_at + 9999 * DAY).sweep()
    assert report == SweepReport()
    assert len(audio_files(manager, session)) == 2


async def test_a_session_that_went_meanwhile_is_skipped(
    manager: FileSessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await transcribed(manager)
    listed = await manager.sessions_in_states(SessionState.TRANSCRIBED)
    await manager.delete_session(session.session_id)

    async def stale_listing(*states: SessionState) -> list[Session]:
        return listed

    monkeypatch.setattr(manager, "sessions_in_states", stale_listing)
    report = await sweeper(manager, session.created_at + 99 * DAY, audio=1, sessions=5).sweep()
    assert report == SweepReport()


async def test_a_deletion_that_fails_is_reported_and_the_sweep_goes_on(
    manager: FileSessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await transcribed(manager, chat_id=1)
    second = await transcribed(manager, chat_id=2)
    real_remove = manager.remove_audio

    async def flaky_remove(session_id: str) -> Session:
        if session_id == first.session_id:
            raise PermissionError("read-only disk")
        return await real_remove(session_id)

    monkeypatch.setattr(manager, "remove_audio", flaky_remove)
    with capture_logs() as logs:
        report = await sweeper(manager, stamp(second) + 2 * DAY, audio=1).sweep()
    assert report == SweepReport(audio_removed=[second.session_id], failed=[first.session_id])
    assert [e["session_id"] for e in logs if e["event"] == "retention_failed"] == [first.session_id]


# -- the loop and the settings ---------------------------------------------------------------


async def test_run_sweeps_at_start_and_then_every_interval(manager: FileSessionManager) -> None:
    sweeps: list[datetime] = []
    twice = asyncio.Event()
    settings = RetentionSettings(audio_retention_days=1)
    loop = RetentionSweeper(manager, settings)

    async def counting_sweep() -> SweepReport:
        sweeps.append(datetime.now())
        if len(sweeps) == 1:
            raise OSError("a failed sweep does not end the loop")
        if len(sweeps) == 2:
            twice.set()
        return SweepReport()

    loop.sweep = counting_sweep  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop, interval_seconds=0.05))
    await asyncio.wait_for(twice.wait(), 10 * TIMEOUT_SCALE)
    stop.set()
    await asyncio.wait_for(running, 10 * TIMEOUT_SCALE)
    assert len(sweeps) >= 2


async def test_run_returns_at_once_when_retention_is_off(manager: FileSessionManager) -> None:
    never = asyncio.Event()
    loop = RetentionSweeper(manager, RetentionSettings())
    await asyncio.wait_for(loop.run(never), 10 * TIMEOUT_SCALE)


def test_settings_read_days_and_blank_means_keep(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("AUDIO_RETENTION_DAYS", "30")
    monkeypatch.setenv("SESSION_RETENTION_DAYS", "")
    settings = RetentionSettings()
    assert (settings.audio_retention_days, settings.session_retention_days) == (30, None)
    assert settings.enabled
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("SESSION_RETENTION_DAYS", bad)
        with pytest.raises(ValidationError):
            RetentionSettings()
