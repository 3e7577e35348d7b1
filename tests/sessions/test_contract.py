"""The owner's contract (session-manager-contract.md), called exactly as it is written.

Every method of the contract's ``SessionManager`` with exactly its arguments, positional as in
the contract; its errors; and ``add_audio`` of an entry whose file is not there, which is
recorded and fails alone, later, at transcription, with an error naming the note.
"""

from __future__ import annotations

import inspect

import pytest

from sessions import (
    AudioEntry,
    ErrorEntry,
    FileSessionManager,
    FileSessionStorage,
    InvalidStateError,
    SessionImmutableError,
    SessionManager,
    SessionNotFoundError,
    SessionState,
    SessionStorage,
    TranscriptionStatus,
)
from tests.conftest import add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionSettings, transcribe_session

UNKNOWN = "2001-01-01_00-00-00"

# The contract's methods and their parameters, in the contract's order.
CONTRACT = {
    "get_active_session": [],
    "create_session": ["chat_id"],
    "finalize_session": ["session_id"],
    "add_audio": ["session_id", "audio_entry"],
    "update_transcription_status": ["session_id", "sequence", "status", "transcript_filename"],
    "transition_state": ["session_id", "new_state"],
    "add_error": ["session_id", "error"],
    "get_session": ["session_id"],
    "list_sessions": ["limit"],
    "get_session_path": ["session_id"],
}
STORAGE_CONTRACT = {
    "save": ["session"],
    "load": ["session_id"],
    "create_folder_structure": ["session_id"],
    "list_all": [],
}


@pytest.mark.parametrize(
    ("cls", "contract"), [(SessionManager, CONTRACT), (SessionStorage, STORAGE_CONTRACT)]
)
def test_signatures_start_with_the_contracts_parameters(
    cls: type, contract: dict[str, list[str]]
) -> None:
    for name, params in contract.items():
        method = getattr(cls, name)
        assert getattr(method, "__isabstractmethod__", False), name
        signature = list(inspect.signature(method).parameters.values())[1:]
        positional = [
            p.name for p in signature if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        assert positional[: len(params)] == params, name
        # Whatever the project adds has a default: the contract's call is enough.
        extra = [p for p in signature if p.name not in params]
        assert all(p.default is not inspect.Parameter.empty for p in extra), name
        # One signature in the abstract class and in the implementation.
        implementation = FileSessionManager if cls is SessionManager else FileSessionStorage
        assert inspect.signature(method) == inspect.signature(getattr(implementation, name)), name


async def test_every_contract_method_called_as_written(manager: FileSessionManager) -> None:
    contract: SessionManager = manager  # consumers see only the abstract type
    assert await contract.get_active_session() is None
    first = await contract.create_session(42)
    assert (await contract.get_active_session()) == first
    assert contract.get_session_path(first.session_id).is_dir()

    # Recorded though its file was never written: the contract does not ask for it.
    entry = AudioEntry(sequence=1, filename="001_audio.ogg", duration_seconds=3.0)
    recorded = await contract.add_audio(first.session_id, entry)
    assert [e.filename for e in recorded.audio_entries] == ["001_audio.ogg"]
    assert not (contract.get_session_path(first.session_id) / "audio/001_audio.ogg").exists()

    # create_session finalizes the chat's active session first.
    second = await contract.create_session(42)
    old = await contract.get_session(first.session_id)
    assert old is not None
    assert old.state is SessionState.TRANSCRIBING
    assert (await contract.get_active_session()) == second

    updated = await contract.update_transcription_status(
        first.session_id, 1, TranscriptionStatus.COMPLETED, "001_audio.txt"
    )
    assert updated.audio_entries[0].transcript_filename == "001_audio.txt"
    errored = await contract.add_error(first.session_id, ErrorEntry(message="m", code="c"))
    assert [e.code for e in errored.errors] == ["c"]
    moved = await contract.transition_state(first.session_id, SessionState.TRANSCRIBED)
    assert moved.state is SessionState.TRANSCRIBED

    finalized = await contract.finalize_session(second.session_id)
    assert finalized.state is SessionState.TRANSCRIBING
    assert [s.session_id for s in await contract.list_sessions()] == [
        second.session_id,
        first.session_id,
    ]
    assert [s.session_id for s in await contract.list_sessions(1)] == [second.session_id]
    assert await contract.get_session(UNKNOWN) is None


async def test_the_contracts_errors(manager: FileSessionManager) -> None:
    contract: SessionManager = manager
    session = await contract.create_session(7)
    sid = session.session_id
    with pytest.raises(InvalidStateError):  # COLLECTING -> PROCESSED is not in the table
        await contract.transition_state(sid, SessionState.PROCESSED)
    entry = AudioEntry(sequence=1, filename="001_audio.ogg", duration_seconds=1.0)
    with pytest.raises(SessionNotFoundError):
        await contract.add_audio(UNKNOWN, entry)
    with pytest.raises(SessionNotFoundError):
        await contract.finalize_session(UNKNOWN)
    with pytest.raises(SessionNotFoundError):
        await contract.transition_state(UNKNOWN, SessionState.ERROR)
    # Malformed in itself: a ValueError, and nothing is recorded.
    malformed = [
        (AudioEntry(sequence=1, filename="../x.ogg", duration_seconds=1.0), "plain file name"),
        (
            AudioEntry.model_construct(sequence=1, filename="001_audio.ogg", duration_seconds=-1),
            "greater than or equal to 0",
        ),
    ]
    for bad, reason in malformed:
        with pytest.raises(ValueError, match=reason):
            await contract.add_audio(sid, bad)
    await contract.finalize_session(sid)
    with pytest.raises(InvalidStateError):
        await contract.finalize_session(sid)
    with pytest.raises(SessionImmutableError):
        await contract.add_audio(sid, entry)
    stored = await contract.get_session(sid)
    assert stored is not None
    assert stored.audio_entries == []
    await contract.transition_state(sid, SessionState.ERROR)
    with pytest.raises(InvalidStateError):  # ERROR is terminal
        await contract.transition_state(sid, SessionState.TRANSCRIBING)


async def test_a_note_recorded_without_its_file_fails_alone_at_transcription(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(9)
    await add_note(manager, session, message_id=1, data=b"text:first")
    missing = AudioEntry(sequence=2, filename="002_audio.ogg", duration_seconds=2.0)
    await manager.add_audio(session.session_id, missing)
    await add_note(manager, session, message_id=3, data=b"text:third")
    await manager.finalize_session(session.session_id)

    settings = TranscriptionSettings(transcription_retries=0)
    done = await transcribe_session(manager, ScriptedTranscriber(), session.session_id, settings)

    assert done.state is SessionState.TRANSCRIBED
    assert [e.transcription_status for e in done.audio_entries] == [
        TranscriptionStatus.COMPLETED,
        TranscriptionStatus.FAILED,
        TranscriptionStatus.COMPLETED,
    ]
    assert done.audio_entries[1].error == "the audio file is missing"
    assert [(e.code, e.sequence, e.message) for e in done.errors] == [
        ("audio_missing", 2, "note 2: the audio file is missing")
    ]
    transcript = manager.folder(session.session_id).read_process_input()
    assert transcript == "first\n\nthird\n"
