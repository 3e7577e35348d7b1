"""The processing service: events, resumption, failures, timeouts and the shell."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from processing import CommandProcessor, MarkdownProcessor, ProcessingService, Processor
from sessions import FileSessionManager, Session, SessionFolder, SessionState, StateChanged
from tests.conftest import TIMEOUT_SCALE, EventRecorder, add_note
from tests.processing import FAST, output_dir, transcribed_session
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionService, transcribe_session

IDLE_SECONDS = 10 * TIMEOUT_SCALE  # an upper bound: a busy machine is slow, not failing


class CountingProcessor:
    """Counts runs and how many overlap; holds each run until ``gate`` opens."""

    name: str = "counting"

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.running = 0
        self.peak = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, session: Session, folder: SessionFolder) -> None:
        self.runs.append(session.session_id)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await self.gate.wait()
            folder.write_output("counted.txt", b"done")
        finally:
            self.running -= 1


class CrashingProcessor:
    name: str = "crashing"

    async def run(self, session: Session, folder: SessionFolder) -> None:
        raise RuntimeError("bug in the processor")


def transcribed_event(session_id: str) -> StateChanged:
    return StateChanged(
        session_id=session_id,
        chat_id=1,
        from_state=SessionState.TRANSCRIBING,
        to_state=SessionState.TRANSCRIBED,
    )


async def run_service(manager: FileSessionManager, processor: Processor) -> ProcessingService:
    service = ProcessingService(manager, processor)
    await service.start()
    return service


async def settle(manager: FileSessionManager, processor: Processor) -> None:
    """Start a service, let it do what is due at start, and stop it."""
    service = await run_service(manager, processor)
    try:
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()


async def state_of(manager: FileSessionManager, session: Session) -> SessionState:
    return (await manager.require_session(session.session_id)).state


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie left for init to reap (it runs nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def wait_for_file(path: Path, seconds: float = 5.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


# -- the stage follows transcription ------------------------------------------------------


async def test_transcribed_session_is_processed_by_markdown(
    manager: FileSessionManager, recorder: EventRecorder
) -> None:
    service = await run_service(manager, MarkdownProcessor())
    worker = TranscriptionService(manager, ScriptedTranscriber(), FAST)
    await worker.start()
    try:
        session = await manager.create_session(chat_id=1)
        await add_note(manager, session, message_id=1, data=b"text:hello there")
        await manager.finalize_session(session.session_id)
        await asyncio.wait_for(worker.wait_idle(), IDLE_SECONDS)
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await worker.stop()
        await service.stop()
    assert await state_of(manager, session) is SessionState.PROCESSED
    changes = [
        e.details["to_state"]
        for e in recorder.events
        if e.event_type == "state_changed" and e.session_id == session.session_id
    ]
    assert changes == ["TRANSCRIBING", "TRANSCRIBED", "PROCESSING", "PROCESSED"]
    out = output_dir(manager, session)
    assert "hello there" in (out / "session.md").read_text()
    assert "hello there" in (out / "session.srt").read_text()


async def test_command_success_is_processed(manager: FileSessionManager) -> None:
    command = 'cat "$PROCESS_INPUT" | tr a-z A-Z > upper.txt; echo wrote it; echo note >&2'
    service = await run_service(manager, CommandProcessor(command, 10))
    try:
        session = await transcribed_session(manager, ("text:quiet words", 2))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.PROCESSED
    assert stored.errors == []
    out = output_dir(manager, session)
    assert (out / "upper.txt").read_text() == "QUIET WORDS\n"
    log = (out / "processor.log").read_text()
    assert "wrote it" in log
    assert "note" in log


async def test_failing_command_is_an_error_with_its_status(manager: FileSessionManager) -> None:
    command = "echo partial; echo 'model not found: llama' >&2; exit 3"
    service = await run_service(manager, CommandProcessor(command, 10))
    try:
        session = await transcribed_session(manager, ("text:hello", 2))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.ERROR
    error = stored.errors[-1]
    assert error.code == "processor_failed"
    assert error.details["exit_status"] == 3
    assert error.details["stderr_tail"] == "model not found: llama"
    assert error.details["processor"] == "command"
    assert "status 3" in error.message
    assert "model not found: llama" in error.message
    assert "partial" in (output_dir(manager, stored) / "processor.log").read_text()


async def test_hanging_command_is_stopped_at_the_timeout(manager: FileSessionManager) -> None:
    # The command leaves a background child too: the whole process group must go.
    command = "echo stuck >&2; sleep 60 & echo $! > child.pid; echo $$ > main.pid; exec sleep 60"
    service = await run_service(manager, CommandProcessor(command, 0.5))
    try:
        session = await transcribed_session(manager, ("text:hello", 2))
        started = time.monotonic()
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
        elapsed = time.monotonic() - started
    finally:
        await service.stop()
    assert elapsed < 3.0
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.ERROR
    error = stored.errors[-1]
    assert error.code == "processor_failed"
    assert error.details["timeout_seconds"] == 0.5
    assert "0.5 s" in error.message
    assert error.details["stderr_tail"] == "stuck"
    out = output_dir(manager, session)
    assert "stuck" in (out / "processor.log").read_text()
    main_pid = int((out / "main.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(main_pid, 0)
    assert process_gone(int((out / "child.pid").read_text()))


async def test_crashing_processor_is_an_error(manager: FileSessionManager) -> None:
    service = await run_service(manager, CrashingProcessor())
    try:
        session = await transcribed_session(manager, ("text:hello", 2))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.ERROR
    assert stored.errors[-1].code == "processor_failed"
    assert "bug in the processor" in stored.errors[-1].message


# -- restarts ------------------------------------------------------------------------------


async def test_session_left_processing_is_redone_at_start(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:survived the crash", 2))
    await manager.transition_state(session.session_id, SessionState.PROCESSING)
    stale = output_dir(manager, session) / "half-written.txt"
    stale.write_text("from the run that crashed")

    counting = CountingProcessor()
    await settle(manager, counting)
    assert counting.runs == [session.session_id]
    assert await state_of(manager, session) is SessionState.PROCESSED
    assert not stale.exists()
    assert (output_dir(manager, session) / "counted.txt").is_file()


async def test_stop_kills_the_command_and_a_restart_finishes(manager: FileSessionManager) -> None:
    service = await run_service(manager, CommandProcessor("echo $$ > main.pid; exec sleep 60", 60))
    session = await transcribed_session(manager, ("text:hello", 2))
    pid = int(await wait_for_file(output_dir(manager, session) / "main.pid"))
    started = time.monotonic()
    await service.stop()
    assert time.monotonic() - started < 3.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert await state_of(manager, session) is SessionState.PROCESSING

    await settle(manager, MarkdownProcessor())
    assert await state_of(manager, session) is SessionState.PROCESSED
    names = sorted(p.name for p in output_dir(manager, session).iterdir())
    assert names == ["session.md", "session.srt"]


async def test_what_is_marked_due_is_processed_at_start(manager: FileSessionManager) -> None:
    # Finalized while a stage ran (so marked due); its transcript went out, but the stage
    # missed TRANSCRIBED: the mark, not delivered_at, says it is still owed a run.
    owed = await transcribed_session(manager, ("text:owed", 2), chat_id=1)
    await manager.mark_delivered(owed.session_id)
    # Transcribed while no processor was configured: it rests where it was.
    resting = await transcribed_session(manager, ("text:old", 2), chat_id=2, due=False)

    counting = CountingProcessor()
    await settle(manager, counting)
    assert counting.runs == [owed.session_id]
    assert await state_of(manager, owed) is SessionState.PROCESSED
    assert await state_of(manager, resting) is SessionState.TRANSCRIBED


async def test_session_finished_during_shutdown_is_processed_at_next_start(
    manager: FileSessionManager,
) -> None:
    counting = CountingProcessor()
    service = await run_service(manager, counting)
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=1, data=b"text:finished while stopping")
    await manager.finalize_session(session.session_id)  # the running stage marks it due
    await service.stop()
    # Transcription ends while nobody listens, and the transcript goes out meanwhile.
    await transcribe_session(manager, ScriptedTranscriber(), session.session_id, FAST)
    await manager.mark_delivered(session.session_id)
    assert (await manager.require_session(session.session_id)).processing_due

    await settle(manager, counting)
    assert counting.runs == [session.session_id]
    assert await state_of(manager, session) is SessionState.PROCESSED


async def test_sessions_still_transcribing_at_start_are_marked_due(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=1, data=b"text:resumed after a crash")
    await manager.finalize_session(session.session_id)
    service = await run_service(manager, CountingProcessor())
    await service.stop()
    assert (await manager.require_session(session.session_id)).processing_due


async def test_metadata_from_before_the_marker_keeps_the_old_rule(
    manager: FileSessionManager,
) -> None:
    undelivered = await transcribed_session(manager, ("text:new", 2), chat_id=1, due=False)
    delivered = await transcribed_session(manager, ("text:old", 2), chat_id=2, due=False)
    await manager.mark_delivered(delivered.session_id)
    for session in (undelivered, delivered):  # as an older version wrote it: no such key
        path = manager.get_session_path(session.session_id) / "metadata.json"
        data = json.loads(path.read_text())
        del data["processing_due"], data["delivery"]
        path.write_text(json.dumps(data))

    counting = CountingProcessor()
    await settle(manager, counting)
    assert counting.runs == [undelivered.session_id]
    assert await state_of(manager, delivered) is SessionState.TRANSCRIBED


async def test_never_twice_at_once(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:once", 2))
    counting = CountingProcessor()
    counting.gate.clear()
    service = ProcessingService(manager, counting)
    # start() finds the session TRANSCRIBED; events for it arrive meanwhile, again and again.
    await asyncio.gather(
        service.start(),
        *(manager.events.publish(transcribed_event(session.session_id)) for _ in range(3)),
    )
    try:
        for _ in range(100):
            if counting.runs:
                break
            await asyncio.sleep(0.01)
        assert service.running() == {session.session_id}
        await manager.events.publish(transcribed_event(session.session_id))
        await asyncio.sleep(0.05)
        counting.gate.set()
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
        # A late duplicate after it finished: the session is PROCESSED, nothing reruns.
        await manager.events.publish(transcribed_event(session.session_id))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    assert counting.runs == [session.session_id]
    assert counting.peak == 1
    assert await state_of(manager, session) is SessionState.PROCESSED


async def test_two_services_on_one_manager_do_not_both_run(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:once", 2))
    first, second = CountingProcessor(), CountingProcessor()
    one = ProcessingService(manager, first)
    two = ProcessingService(manager, second)
    await asyncio.gather(one.start(), two.start())
    try:
        await asyncio.wait_for(asyncio.gather(one.wait_idle(), two.wait_idle()), 10)
    finally:
        await one.stop()
        await two.stop()
    assert len(first.runs) + len(second.runs) == 1
    assert await state_of(manager, session) is SessionState.PROCESSED


async def test_session_locked_by_another_process_is_left_alone(
    manager: FileSessionManager,
) -> None:
    session = await transcribed_session(manager, ("text:busy", 2))
    await manager.transition_state(session.session_id, SessionState.PROCESSING)
    lock_path = manager.get_session_path(session.session_id) / "process" / ".processing.lock"
    with lock_path.open("w") as held:  # what another bot process running it would hold
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        counting = CountingProcessor()
        service = await run_service(manager, counting)
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
        await service.stop()
        assert counting.runs == []
        assert await state_of(manager, session) is SessionState.PROCESSING

    await settle(manager, counting)  # that process is gone: the lock is free
    assert counting.runs == [session.session_id]
    assert await state_of(manager, session) is SessionState.PROCESSED


async def test_event_for_an_unknown_session_is_harmless(
    manager: FileSessionManager, sessions_dir: Path
) -> None:
    service = await run_service(manager, CountingProcessor())
    try:
        await manager.events.publish(transcribed_event("2020-01-01_00-00-00"))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    assert not (sessions_dir / "2020-01-01_00-00-00").exists()


# -- the shell never sees transcript text ------------------------------------------------


async def test_shell_metacharacters_reach_the_command_intact(
    manager: FileSessionManager, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned_marker"
    # The first line alone is valid shell that would create the marker if it were run.
    nasty = (
        f"$(touch {marker}) ; echo \"double\" 'single' `touch {marker}` $HOME ${{IFS}} %s ~ *"
        f"\n| > < !! ; rm -rf nothing && touch {marker} # \\"
    )
    service = await run_service(manager, CommandProcessor('cp "$PROCESS_INPUT" copy.txt', 10))
    try:
        session = await transcribed_session(manager, (f"text:{nasty}", 2))
        await asyncio.wait_for(service.wait_idle(), IDLE_SECONDS)
    finally:
        await service.stop()
    assert not marker.exists()
    assert await state_of(manager, session) is SessionState.PROCESSED
    folder = manager.get_session_path(session.session_id)
    original = (folder / "process" / "input.txt").read_bytes()
    assert nasty.strip().encode() in original
    assert (output_dir(manager, session) / "copy.txt").read_bytes() == original
