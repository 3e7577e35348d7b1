"""Live transcription in the service: notes transcribed while their session is collecting,
with a scripted transcriber and a real session folder."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sessions import (
    AudioEntry,
    FileSessionManager,
    Session,
    SessionState,
    StateChanged,
    TranscriptionStatus,
)
from sessions.layout import AUDIO_DIR, audio_filename
from tests.conftest import TIMEOUT_SCALE, add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionService, TranscriptionSettings, TranscriptResult
from transcription.options import DEFAULT_OPTIONS, DecodeOptions

WAIT = 10 * TIMEOUT_SCALE
LIVE = TranscriptionSettings(
    transcription_retries=0,
    transcription_retry_backoff_seconds=0.01,
    transcription_timeout_base_seconds=30,
)
DONE = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)


class GatedTranscriber(ScriptedTranscriber):
    """``wait:<tag>:<words>`` holds until ``release(tag)``; ``started`` lists the words of
    each call in the order they began (the script is read first, as a model opens its file)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Condition()

    def release(self, tag: str) -> None:
        self.gates.setdefault(tag, asyncio.Event()).set()

    async def transcribe(
        self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS
    ) -> TranscriptResult:
        script = path.read_text(encoding="utf-8")
        self.started.append(script.rsplit(":", 1)[-1])
        async with self.changed:
            self.changed.notify_all()
        if not script.startswith("wait:"):
            return await super().transcribe(path, options)
        self.calls.append(path.name)
        _, tag, words = script.split(":", 2)
        await self.gates.setdefault(tag, asyncio.Event()).wait()
        return TranscriptResult(text=words, language="en", duration_seconds=2.0)

    async def wait_started(self, words: str) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: words in self.started), WAIT)


@pytest.fixture
def fake() -> GatedTranscriber:
    return GatedTranscriber()


@pytest.fixture
async def service(
    manager: FileSessionManager, fake: GatedTranscriber
) -> AsyncIterator[TranscriptionService]:
    made = TranscriptionService(manager, fake, LIVE)
    await made.start()
    yield made
    await made.stop()


async def collecting(manager: FileSessionManager, *scripts: str, chat_id: int = 1) -> Session:
    session = await manager.create_session(chat_id=chat_id)
    for n, script in enumerate(scripts):
        session = await add_note(manager, session, message_id=n + 1, data=script.encode())
    return session


async def statuses(manager: FileSessionManager, session: Session) -> list[TranscriptionStatus]:
    stored = await manager.require_session(session.session_id)
    return [e.transcription_status for e in stored.audio_entries]


def folder_of(manager: FileSessionManager, session: Session) -> Path:
    return manager.get_session_path(session.session_id)


async def test_notes_are_transcribed_while_the_session_is_collecting(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "text:one", "text:two")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.COLLECTING
    assert await statuses(manager, session) == [TranscriptionStatus.COMPLETED] * 2
    assert (folder_of(manager, session) / "transcripts" / "002_audio.txt").read_text() == "two\n"

    await add_note(manager, stored, message_id=3, data=b"text:three")
    await manager.finalize_session(session.session_id)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    done = await manager.require_session(session.session_id)
    assert done.state is SessionState.TRANSCRIBED
    process_input = folder_of(manager, session) / "process" / "input.txt"
    assert process_input.read_text() == "one\n\ntwo\n\nthree\n"
    assert fake.calls == ["001_audio.ogg", "002_audio.ogg", "003_audio.ogg"]  # none twice


async def test_live_transcription_off_waits_for_done(
    manager: FileSessionManager, fake: GatedTranscriber
) -> None:
    service = TranscriptionService(
        manager, fake, LIVE.model_copy(update={"live_transcription": False})
    )
    await service.start()
    try:
        session = await collecting(manager, "text:one", "text:two")
        await asyncio.wait_for(service.wait_idle(), WAIT)
        assert fake.calls == []
        assert await statuses(manager, session) == [TranscriptionStatus.PENDING] * 2
        await manager.finalize_session(session.session_id)
        await asyncio.wait_for(service.wait_idle(), WAIT)
    finally:
        await service.stop()
    assert (await manager.require_session(session.session_id)).state is SessionState.TRANSCRIBED
    assert fake.calls == ["001_audio.ogg", "002_audio.ogg"]


async def test_done_waits_for_the_note_being_transcribed_live_not_a_second_run(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "text:one", "wait:slow:two")
    await fake.wait_started("two")
    await manager.finalize_session(session.session_id)
    await asyncio.sleep(0)  # the finisher has asked for both notes
    assert (await manager.require_session(session.session_id)).state is SessionState.TRANSCRIBING
    fake.release("slow")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    done = await manager.require_session(session.session_id)
    assert done.state is SessionState.TRANSCRIBED
    assert fake.started == ["one", "two"]
    assert (folder_of(manager, session) / "process" / "input.txt").read_text() == "one\n\ntwo\n"


async def test_a_finalized_session_goes_before_live_notes(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    live = await collecting(manager, "wait:first:a1", "text:a2", "text:a3", chat_id=1)
    await fake.wait_started("a1")
    other = await collecting(manager, "text:b1", "text:b2", chat_id=2)
    await manager.finalize_session(other.session_id)
    await asyncio.sleep(0)
    fake.release("first")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    # b's first note arrived live before it was finalized: it goes ahead of a's queued notes
    # once b is finalized, as does the rest of b.
    assert fake.started == ["a1", "b1", "b2", "a2", "a3"]
    assert (await manager.require_session(other.session_id)).state is SessionState.TRANSCRIBED
    assert await statuses(manager, live) == [TranscriptionStatus.COMPLETED] * 3


async def test_a_session_with_every_note_done_does_not_wait_for_another_chats_live_note(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    # One slot (the default concurrency), held by chat 1's long live note: chat 2's session,
    # all of whose notes are done, is finished without waiting for that slot.
    finished = await collecting(manager, "text:b1", chat_id=2)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    assert await statuses(manager, finished) == [TranscriptionStatus.COMPLETED]
    long_note = await collecting(manager, "wait:long:a1", chat_id=1)
    await fake.wait_started("a1")

    transcribed = asyncio.Event()

    async def on_state(event: StateChanged) -> None:
        if event.session_id == finished.session_id and event.to_state is SessionState.TRANSCRIBED:
            transcribed.set()

    manager.events.subscribe(on_state, StateChanged)
    await manager.finalize_session(finished.session_id)
    await asyncio.wait_for(transcribed.wait(), WAIT)
    assert await statuses(manager, long_note) == [TranscriptionStatus.IN_PROGRESS]
    fake.release("long")
    await asyncio.wait_for(service.wait_idle(), WAIT)


async def test_a_redelivered_note_is_transcribed_once(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "wait:hold:one")
    await fake.wait_started("one")
    entry = (await manager.require_session(session.session_id)).audio_entries[0]
    again = AudioEntry.model_validate(entry.model_dump() | {"transcription_status": "PENDING"})
    with capture_logs() as logs:
        await manager.add_audio(session.session_id, again)  # the same message, redelivered
    assert not [e for e in logs if e.get("event_type") == "audio_added"]
    fake.release("hold")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    await manager.finalize_session(session.session_id)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    assert fake.calls == ["001_audio.ogg"]
    assert (await manager.require_session(session.session_id)).state is SessionState.TRANSCRIBED


async def test_restart_resumes_unfinished_live_notes_and_redoes_nothing_finished(
    manager: FileSessionManager, fake: GatedTranscriber
) -> None:
    service = TranscriptionService(manager, fake, LIVE)
    await service.start()
    session = await collecting(manager, "text:one", "wait:cut:two", "text:three")
    await fake.wait_started("two")
    await service.stop()  # as a crash would: note 2 is left IN_PROGRESS, note 3 PENDING
    assert await statuses(manager, session) == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.IN_PROGRESS,
        TranscriptionStatus.PENDING,
    ]
    fake.release("cut")
    fake.calls.clear()
    service = TranscriptionService(manager, fake, LIVE)
    with capture_logs() as logs:
        await service.start()
        await asyncio.wait_for(service.wait_idle(), WAIT)
    try:
        assert await statuses(manager, session) == [TranscriptionStatus.COMPLETED] * 3
        assert fake.calls == ["002_audio.ogg", "003_audio.ogg"]
        assert any(e["event"] == "live_entries_resumed" and e["count"] == 2 for e in logs)
        await manager.finalize_session(session.session_id)
        await asyncio.wait_for(service.wait_idle(), WAIT)
    finally:
        await service.stop()
    assert fake.calls == ["002_audio.ogg", "003_audio.ogg"]
    process_input = folder_of(manager, session) / "process" / "input.txt"
    assert process_input.read_text() == "one\n\ntwo\n\nthree\n"


async def test_at_restart_a_finalized_session_goes_before_open_sessions_notes(
    manager: FileSessionManager, fake: GatedTranscriber
) -> None:
    # Left by a crash: an open session with notes to do, older than a finalized one.
    open_one = await collecting(manager, "text:open one", "text:open two", chat_id=1)
    finalized = await collecting(manager, "text:final one", "text:final two", chat_id=2)
    await manager.finalize_session(finalized.session_id)
    service = TranscriptionService(manager, fake, LIVE)
    await service.start()
    try:
        await asyncio.wait_for(service.wait_idle(), WAIT)
    finally:
        await service.stop()
    assert fake.started == ["final one", "final two", "open one", "open two"]
    assert await statuses(manager, open_one) == [TranscriptionStatus.COMPLETED] * 2
    assert (await manager.require_session(finalized.session_id)).state is (SessionState.TRANSCRIBED)


# -- notes and sessions that go away while they are transcribed -------------------------------


def remove_entry(manager: FileSessionManager, session: Session, sequence: int) -> None:
    """What /undo does to the last note: its entry, audio and transcript go, and the next
    note gets its number again."""
    stored = manager.storage.load(session.session_id)
    assert stored is not None
    stored.audio_entries = [e for e in stored.audio_entries if e.sequence != sequence]
    stored.next_sequence = sequence
    manager.storage.save(stored)
    folder = manager.folder(session.session_id)
    folder.remove_audio(audio_filename(sequence))
    folder.remove_transcript(sequence)


async def test_a_note_removed_while_transcribed_is_dropped_and_leaves_no_transcript(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "text:one", "wait:undo:oops")
    await fake.wait_started("oops")
    remove_entry(manager, session, 2)
    with capture_logs() as logs:
        fake.release("undo")
        await asyncio.wait_for(service.wait_idle(), WAIT)
    dropped = [e for e in logs if e["event"] == "entry_dropped"]
    assert [(e["log_level"], e["sequence"]) for e in dropped] == [("info", 2)]
    transcripts = folder_of(manager, session) / "transcripts"
    assert sorted(p.name for p in transcripts.iterdir()) == ["001_audio.json", "001_audio.txt"]
    # The next note takes number 2 and is transcribed as itself; the service goes on.
    stored = await manager.require_session(session.session_id)
    await add_note(manager, stored, message_id=7, data=b"text:instead")
    await manager.finalize_session(session.session_id)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    assert (folder_of(manager, session) / "process" / "input.txt").read_text() == (
        "one\n\ninstead\n"
    )


async def test_a_new_note_given_the_removed_ones_number_gets_its_own_text(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "wait:old:old words")
    await fake.wait_started("old words")
    remove_entry(manager, session, 1)
    stored = await manager.require_session(session.session_id)
    await add_note(manager, stored, message_id=9, data=b"text:new words")
    await manager.finalize_session(session.session_id)
    fake.release("old")  # the run of the removed note ends after its number was given again
    await asyncio.wait_for(service.wait_idle(), WAIT)
    done = await manager.require_session(session.session_id)
    assert done.state is SessionState.TRANSCRIBED
    assert [e.message_id for e in done.audio_entries] == [9]
    assert (folder_of(manager, session) / "process" / "input.txt").read_text() == "new words\n"


async def test_a_new_note_given_a_number_still_being_run_is_transcribed_live_after_it(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "wait:old:old words")
    await fake.wait_started("old words")
    remove_entry(manager, session, 1)  # /undo while note 1 is transcribed
    stored = await manager.require_session(session.session_id)
    await add_note(manager, stored, message_id=9, data=b"text:new words")  # number 1 again
    fake.release("old")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    # Still collecting, and the new note was transcribed as itself all the same.
    done = await manager.require_session(session.session_id)
    assert done.state is SessionState.COLLECTING
    [entry] = done.audio_entries
    assert (entry.message_id, entry.transcription_status) == (9, TranscriptionStatus.COMPLETED)
    text = manager.folder(session.session_id).read_transcript_text(1, entry.transcript_filename)
    assert text == "new words"


async def test_a_session_cancelled_while_transcribed_is_left_alone(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "wait:cancel:secret")
    await fake.wait_started("secret")
    # /cancel: COLLECTING -> ERROR, the audio deleted.
    await manager.transition_state(session.session_id, SessionState.ERROR)
    shutil.rmtree(folder_of(manager, session) / AUDIO_DIR)
    fake.release("cancel")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.ERROR
    assert stored.errors == []
    assert list((folder_of(manager, session) / "transcripts").iterdir()) == []
    # The service is not stuck: the next session is transcribed.
    other = await collecting(manager, "text:next", chat_id=2)
    await manager.finalize_session(other.session_id)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    assert (await manager.require_session(other.session_id)).state is SessionState.TRANSCRIBED


async def test_a_session_deleted_while_transcribed_is_not_recreated(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "wait:forget:gone")
    await fake.wait_started("gone")
    shutil.rmtree(folder_of(manager, session))  # /forget
    with capture_logs() as logs:
        fake.release("forget")
        await asyncio.wait_for(service.wait_idle(), WAIT)
    assert not folder_of(manager, session).exists()
    assert [e["log_level"] for e in logs if e["event"] == "entry_dropped"] == ["info"]
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]


async def test_audio_gone_while_collecting_is_left_to_done(
    manager: FileSessionManager, fake: GatedTranscriber, service: TranscriptionService
) -> None:
    session = await collecting(manager, "text:one")
    await asyncio.wait_for(service.wait_idle(), WAIT)
    folder = folder_of(manager, session)
    stored = await manager.require_session(session.session_id)
    # A note recorded without its file (the contract allows it), queued live.
    await manager.add_audio(
        session.session_id, AudioEntry(sequence=2, filename="002_audio.ogg", duration_seconds=1)
    )
    await asyncio.wait_for(service.wait_idle(), WAIT)
    assert await statuses(manager, stored) == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.PENDING,
    ]
    assert (await manager.require_session(session.session_id)).errors == []
    # After /done it fails alone, as a note without its file always has.
    await manager.finalize_session(session.session_id)
    await asyncio.wait_for(service.wait_idle(), WAIT)
    done = await manager.require_session(session.session_id)
    assert done.state is SessionState.TRANSCRIBED
    assert done.audio_entries[1].transcription_status is TranscriptionStatus.FAILED
    assert [e.code for e in done.errors] == ["audio_missing"]
    assert (folder / "process" / "input.txt").read_text() == "one\n"
