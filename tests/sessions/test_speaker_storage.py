"""Speaker turns in storage: additive keys that older files do without. A transcript keeps
each segment's voice and the note's voice embeddings; ``metadata.json`` the session's
numbering and names; a chat's settings its ``/speakers``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from library.chat_settings_store import SqliteChatSettings
from sessions import FileSessionManager, Transcript, TranscriptSegment
from sessions.chat_settings import ChatSettings
from sessions.transcripts import transcript_from_json
from tests.conftest import add_note


async def test_a_diarized_transcript_round_trips_and_an_older_one_still_reads(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(1)
    session = await add_note(manager, session)
    folder = manager.folder(session.session_id)
    note = Transcript(
        text="a b",
        segments=[
            TranscriptSegment(start=0, end=1, text="a", speaker=0),
            TranscriptSegment(start=1, end=2, text="b", speaker=1),
        ],
        speaker_centroids=[[0.6, 0.8], [1.0, 0.0]],
    )
    folder.write_transcript(1, note)
    assert folder.read_transcript(1) == note
    older = {"text": "a", "segments": [{"start": 0, "end": 1, "text": "a"}], "sequence": 1}
    read = transcript_from_json(older)
    assert read.segments[0].speaker is None
    assert read.speaker_centroids is None
    # A damaged voice or embedding costs only that field, never the note.
    damaged = {**older, "speaker_centroids": "x", "segments": [{**older["segments"][0]}]}  # type: ignore[dict-item]
    damaged["segments"][0]["speaker"] = "first"
    read = transcript_from_json(damaged)
    assert read.text == "a"
    assert read.speaker_centroids is None
    assert read.segments == []


async def test_names_and_numbers_live_in_metadata_and_older_metadata_reads(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(1)
    path = manager.get_session_path(session.session_id) / "metadata.json"
    stored = json.loads(path.read_text())
    stored.pop("speaker_names", None)
    stored.pop("speaker_numbers", None)
    path.write_text(json.dumps(stored))  # as an older version wrote it
    again = await manager.require_session(session.session_id)
    assert again.speaker_names is None
    assert again.speaker_numbers is None
    await manager.set_speaker_numbers(session.session_id, {2: [2, 1], 1: [1]})
    await manager.name_speaker(session.session_id, 10, "Ben")
    await manager.name_speaker(session.session_id, 2, "Anna")
    stored = json.loads(path.read_text())
    assert stored["speaker_numbers"] == {"1": [1], "2": [2, 1]}
    assert stored["speaker_names"] == {"2": "Anna", "10": "Ben"}
    assert stored["state"] == "COLLECTING"  # nothing else changed


async def test_a_chats_speakers_setting_is_stored_and_older_settings_read_as_off(
    tmp_path: Path,
) -> None:
    store = SqliteChatSettings(tmp_path / "chat_settings.sqlite3")
    await store.open()
    try:
        assert ChatSettings().speakers is False
        await store.save_chat_settings(1, ChatSettings().with_speakers(True))
        loaded = await store.load_chat_settings(1)
        assert loaded is not None
        assert loaded.speakers
        # Off again with nothing else set: the chat is back to the defaults, no row kept.
        await store.save_chat_settings(1, ChatSettings().with_speakers(False))
        assert await store.load_chat_settings(1) is None
        await store.close()
        db = sqlite3.connect(tmp_path / "chat_settings.sqlite3")
        with db:
            older = json.dumps({"language": "de", "vocabulary": ["Zoë"]})
            db.execute("INSERT INTO chat_settings VALUES (2, ?, '2026-01-01')", (older,))
        db.close()
        store = SqliteChatSettings(tmp_path / "chat_settings.sqlite3")
        read = await store.load_chat_settings(2)
        assert read == ChatSettings(language="de", vocabulary=("Zoë",))
        assert read is not None
        assert not read.speakers
    finally:
        await store.close()
