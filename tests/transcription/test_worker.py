"""The transcription worker's logic, with a scripted transcriber and real files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sessions import FileSessionManager, Session, SessionState, TranscriptionStatus
from tests.conftest import EventRecorder, add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import (
    TranscriptionService,
    TranscriptionSettings,
    TranscriptResult,
    finish_session,
    transcribe_entry,
    transcribe_session,
)
from transcription.options import DEFAULT_OPTIONS, DecodeOptions

FAST = TranscriptionSettings(
    transcription_retries=2,
    transcription_retry_backoff_seconds=0.01,
    transcription_timeout_base_seconds=5,
)


async def session_with(manager: FileSessionManager, *scripts: str, chat_id: int = 1) -> Session:
    session = await manager.create_session(chat_id=chat_id)
    for n, script in enumerate(scripts):
        await add_note(manager, session, message_id=n + 1, data=script.encode())
    return await manager.finalize_session(session.session_id)


def read(manager: FileSessionManager, session: Session, relative: str) -> str:
    return (manager.get_session_path(session.session_id) / relative).read_text()


async def test_entries_in_order_then_transcribed(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "text:one", "text:two", "text:three")
    done = await transcribe_session(manager, fake, session.session_id, FAST)

    assert done.state is SessionState.TRANSCRIBED
    assert done.transcribed_at is not None
    assert fake.calls == ["001_audio.ogg", "002_audio.ogg", "003_audio.ogg"]
    assert [e.transcript_filename for e in done.audio_entries] == [
        "001_audio.txt",
        "002_audio.txt",
        "003_audio.txt",
    ]
    assert read(manager, session, "transcripts/002_audio.txt") == "two\n"
    detail = json.loads(read(manager, session, "transcripts/002_audio.json"))
    assert detail["language"] == "en"
    assert detail["segments"] == [{"start": 0.0, "end": 2.0, "text": "two"}]
    assert read(manager, session, "process/input.txt") == "one\n\ntwo\n\nthree\n"

    progress = [
        (e.details["status"], e.details["done"], e.details["total"])
        for e in recorder.events
        if e.event_type == "entry_status"
    ]
    assert progress == [
        ("IN_PROGRESS", 0, 3),
        ("COMPLETED", 1, 3),
        ("IN_PROGRESS", 1, 3),
        ("COMPLETED", 2, 3),
        ("IN_PROGRESS", 2, 3),
        ("COMPLETED", 3, 3),
    ]
    changes = [e.details["to_state"] for e in recorder.events if e.event_type == "state_changed"]
    assert changes == ["TRANSCRIBING", "TRANSCRIBED"]


async def test_resume_after_crash_redoes_only_unfinished(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "text:one", "text:two", "text:three")
    sid = session.session_id
    await transcribe_entry(manager, fake, sid, 1, FAST)
    # A crash mid-way: entry 2 left IN_PROGRESS; entry 3 COMPLETED but its file lost.
    await manager.update_transcription_status(sid, 2, TranscriptionStatus.IN_PROGRESS)
    await manager.update_transcription_status(
        sid, 3, TranscriptionStatus.COMPLETED, "003_audio.txt"
    )
    fake.calls.clear()

    done = await transcribe_session(manager, fake, sid, FAST)
    assert fake.calls == ["002_audio.ogg", "003_audio.ogg"]  # entry 1 not repeated
    assert done.state is SessionState.TRANSCRIBED
    assert read(manager, session, "process/input.txt") == "one\n\ntwo\n\nthree\n"


async def test_corrupt_audio_fails_only_its_entry(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "text:good one", "corrupt", "text:good two")
    done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    assert [e.transcription_status for e in done.audio_entries] == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.FAILED,
        TranscriptionStatus.COMPLETED,
    ]
    assert fake.attempts["002_audio.ogg"] == 1  # permanent: not retried
    assert [(e.code, e.sequence) for e in done.errors] == [("decode_failed", 2)]
    assert read(manager, session, "process/input.txt") == "good one\n\ngood two\n"


async def test_transient_error_is_retried(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "flaky:2:finally")
    done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert fake.attempts["001_audio.ogg"] == 3
    assert done.audio_entries[0].transcription_status is TranscriptionStatus.COMPLETED
    assert done.errors == []


async def test_retries_exhausted_fails_entry(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "flaky:9:never", "text:fine")
    done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert fake.attempts["001_audio.ogg"] == 3
    assert done.audio_entries[0].transcription_status is TranscriptionStatus.FAILED
    assert done.errors[0].code == "transcription_failed"
    assert done.state is SessionState.TRANSCRIBED


async def test_timeout_stops_a_hang(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    settings = FAST.model_copy(
        update={
            "transcription_timeout_base_seconds": 0.2,
            "transcription_timeout_per_audio_second": 0.0,
        }
    )
    session = await session_with(manager, "hang", "text:after the hang")
    done = await asyncio.wait_for(
        transcribe_session(manager, fake, session.session_id, settings), 10
    )
    assert done.audio_entries[0].transcription_status is TranscriptionStatus.FAILED
    assert done.errors[0].code == "timeout"
    assert read(manager, session, "process/input.txt") == "after the hang\n"


def test_timeout_scales_with_duration() -> None:
    settings = TranscriptionSettings(
        transcription_timeout_base_seconds=10, transcription_timeout_per_audio_second=2
    )
    assert settings.timeout_for(0) == 10
    assert settings.timeout_for(60) == 130


async def test_empty_session_goes_straight_to_transcribed(manager: FileSessionManager) -> None:
    session = await session_with(manager)
    done = await transcribe_session(manager, ScriptedTranscriber(), session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    assert read(manager, session, "process/input.txt") == ""


async def test_all_entries_failed_is_error(manager: FileSessionManager) -> None:
    session = await session_with(manager, "corrupt", "corrupt")
    done = await transcribe_session(manager, ScriptedTranscriber(), session.session_id, FAST)
    assert done.state is SessionState.ERROR
    assert done.errors[-1].code == "all_entries_failed"


async def test_silent_entry_leaves_no_empty_paragraph(manager: FileSessionManager) -> None:
    session = await session_with(manager, "text:one", "text:", "text:three")
    await transcribe_session(manager, ScriptedTranscriber(), session.session_id, FAST)
    assert read(manager, session, "process/input.txt") == "one\n\nthree\n"


async def test_finish_waits_for_unfinished_entries(manager: FileSessionManager) -> None:
    session = await session_with(manager, "text:one")
    still = await finish_session(manager, session.session_id)
    assert still.state is SessionState.TRANSCRIBING


async def test_worker_service_queues_sessions_and_resumes_at_start(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    fake = ScriptedTranscriber()
    # Left TRANSCRIBING by a previous run: picked up at start.
    leftover = await session_with(manager, "text:left over", chat_id=1)
    worker = TranscriptionService(manager, fake, FAST)
    await worker.start()
    try:
        # Finalized while running: picked up from the event.
        a = await session_with(manager, "text:a1", "text:a2", chat_id=2)
        b = await session_with(manager, "corrupt", "text:b2", chat_id=3)
        await asyncio.wait_for(worker.wait_idle(), 10)
    finally:
        await worker.stop()
    for session in (leftover, a, b):
        stored = await manager.require_session(session.session_id)
        assert stored.state is SessionState.TRANSCRIBED
    assert fake.calls[:1] == ["001_audio.ogg"]
    assert len(fake.calls) == 5
    assert read(manager, b, "process/input.txt") == "b2\n"


async def test_worker_stop_mid_entry_then_restart_resumes(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    session = await session_with(manager, "text:first", "hang")
    worker = TranscriptionService(manager, fake, FAST)
    await worker.start()
    for _ in range(200):
        if "002_audio.ogg" in fake.calls:
            break
        await asyncio.sleep(0.01)
    await worker.stop()
    stuck = await manager.require_session(session.session_id)
    assert stuck.state is SessionState.TRANSCRIBING
    assert stuck.audio_entries[1].transcription_status is TranscriptionStatus.IN_PROGRESS

    # The "hang" was a one-off: the audio is now fine, and a new worker finishes the job.
    audio = manager.get_session_path(session.session_id) / "audio" / "002_audio.ogg"
    audio.write_text("text:second")
    fake.calls.clear()
    worker = TranscriptionService(manager, fake, FAST)
    await worker.start()
    await asyncio.wait_for(worker.wait_idle(), 10)
    await worker.stop()
    assert fake.calls == ["002_audio.ogg"]
    assert read(manager, session, "process/input.txt") == "first\n\nsecond\n"


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_several_sessions_all_finish(manager: FileSessionManager, concurrency: int) -> None:
    fake = ScriptedTranscriber()
    settings = FAST.model_copy(update={"transcription_concurrency": concurrency})
    worker = TranscriptionService(manager, fake, settings)
    await worker.start()
    made = [await session_with(manager, f"text:s{n}", chat_id=n) for n in range(6)]
    await asyncio.wait_for(worker.wait_idle(), 10)
    await worker.stop()
    for session in made:
        assert (await manager.require_session(session.session_id)).state is SessionState.TRANSCRIBED
    assert len(fake.calls) == 6


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_entries_of_a_session_run_up_to_concurrency(
    manager: FileSessionManager, concurrency: int
) -> None:
    class Counting(ScriptedTranscriber):
        def __init__(self) -> None:
            super().__init__()
            self.running = 0
            self.peak = 0

        async def transcribe(
            self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
        ) -> TranscriptResult:
            self.running += 1
            self.peak = max(self.peak, self.running)
            await asyncio.sleep(0.05)
            try:
                return await super().transcribe(path, options)
            finally:
                self.running -= 1

    fake = Counting()
    settings = FAST.model_copy(update={"transcription_concurrency": concurrency})
    session = await session_with(manager, *(f"text:n{n}" for n in range(6)))
    done = await transcribe_session(manager, fake, session.session_id, settings)
    assert fake.peak == concurrency
    # Slots are taken in sequence order; within the first batch of slots, any order.
    first = sorted(fake.calls[:concurrency])
    assert first == [f"{n:03d}_audio.ogg" for n in range(1, concurrency + 1)]
    assert done.state is SessionState.TRANSCRIBED
    assert (
        read(manager, session, "process/input.txt") == "\n\n".join(f"n{n}" for n in range(6)) + "\n"
    )


async def test_a_timed_out_entry_is_retried(manager: FileSessionManager) -> None:
    fake = ScriptedTranscriber()
    settings = FAST.model_copy(
        update={
            "transcription_timeout_base_seconds": 0.2,
            "transcription_timeout_per_audio_second": 0.0,
        }
    )
    session = await session_with(manager, "hang:1:second time lucky")
    done = await asyncio.wait_for(
        transcribe_session(manager, fake, session.session_id, settings), 30
    )
    assert fake.attempts["001_audio.ogg"] == 2
    assert done.audio_entries[0].transcription_status is TranscriptionStatus.COMPLETED
    assert done.errors == []


@pytest.mark.parametrize("script", ["flaky:9:never", "hang"])
async def test_retry_backoff_doubles(manager: FileSessionManager, script: str) -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    settings = FAST.model_copy(
        update={
            "transcription_retries": 3,
            "transcription_retry_backoff_seconds": 1.5,
            "transcription_timeout_base_seconds": 0.05,
            "transcription_timeout_per_audio_second": 0.0,
        }
    )
    session = await session_with(manager, script)
    status = await transcribe_entry(
        manager, ScriptedTranscriber(), session.session_id, 1, settings, sleep=record
    )
    assert status is TranscriptionStatus.FAILED
    assert delays == [1.5, 3.0, 6.0]
