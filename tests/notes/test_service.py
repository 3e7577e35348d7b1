"""The note service against a real HTTP stand-in and real session folders: the note follows
the delivered transcript in the chat's style; owed notes survive a stop and are made once;
a crash between the model's answer and the delivery calls no model again; failures end in
one plain reason; the key stays out of every log line and file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from notes.client import DID_NOT_ANSWER, ModelClient
from notes.service import NoteFailure, NoteService, NoTranscriptError, WrittenNote
from notes.settings import NoteSettings
from notes.styles import Style
from sessions import FileSessionManager, Session, Speaker, SpeakerKind
from sessions.errors import SessionNotFoundError
from tests.conftest import TIMEOUT_SCALE
from tests.notes.standin import StandIn, stand_in
from tests.processing import transcribed_session

ANNA = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
BEN = Speaker(name="Ben", kind=SpeakerKind.USER, user_id=8)
KEY = "sk-test-Zq8v1VhN3oPpL0ngSecretValue"


class Chat:
    """What the bot does with the service's hand-overs: keeps them, and marks delivered."""

    def __init__(self, service: NoteService, deliver: bool = True) -> None:
        self.notes: list[WrittenNote] = []
        self.failures: list[NoteFailure] = []
        self.arrived = asyncio.Event()
        self._service = service
        self._deliver = deliver
        service.on_ready(self.ready)
        service.on_failed(self.failed)

    async def ready(self, note: WrittenNote) -> None:
        if self._deliver:
            await self._service.mark_delivered(note.session_id, note.key)
        self.notes.append(note)
        self.arrived.set()

    async def failed(self, failure: NoteFailure) -> None:
        self.failures.append(failure)
        self.arrived.set()

    async def wait(self, count: int = 1, within: float = 10.0) -> None:
        async with asyncio.timeout(within * TIMEOUT_SCALE):
            while len(self.notes) + len(self.failures) < count:
                self.arrived.clear()
                await self.arrived.wait()


def note_settings(server: StandIn | str, **more: Any) -> NoteSettings:
    url = server if isinstance(server, str) else server.base_url
    return NoteSettings(llm_base_url=url, llm_model="tiny", _env_file=None, **more)


def service_for(manager: FileSessionManager, settings: NoteSettings) -> NoteService:
    return NoteService(manager, settings, model=ModelClient(settings, empty_retry_delays=(0.01,)))


@pytest.fixture
async def server() -> AsyncIterator[StandIn]:
    async with stand_in() as running:
        yield running


async def group_session(manager: FileSessionManager, chat_id: int = 1) -> Session:
    notes = (("text:we ship on friday", 5.0), ("text:I write the release notes", 5.0))
    fields = [{"speaker": ANNA}, {"speaker": BEN}]
    return await transcribed_session(manager, *notes, chat_id=chat_id, fields=fields)


async def test_the_chats_note_follows_the_delivered_transcript_and_is_stored(
    manager: FileSessionManager, server: StandIn
) -> None:
    server.answer("ok:# Release\n- Ben writes the **notes** <b>")
    group = -1001  # a group: its notes are labelled with their speakers
    await manager.update_chat_settings(group, lambda s: s.with_style("summary"))
    session = await group_session(manager, chat_id=group)
    service = service_for(manager, note_settings(server))
    chat = Chat(service)
    await service.start()
    try:
        await manager.mark_delivered(session.session_id)
        await chat.wait()
        [note] = chat.notes
        assert (note.key, note.style, note.title) == ("summary", Style.SUMMARY, "Summary")
        assert note.markdown == "# Release\n- Ben writes the **notes** <b>"
        assert note.html_parts == ["<b>Release</b>\n\n• Ben writes the <b>notes</b> &lt;b&gt;"]
        system, user = (m["content"] for m in server.seen[0].body["messages"])
        assert 'ISO 639 code is "en"' in system  # the transcript's language
        assert "The speakers are: Anna, Ben." in system  # its speaker labels
        assert user == (
            "<transcript>\nAnna: we ship on friday\n\nBen: I write the release notes\n</transcript>"
        )
        folder = manager.folder(session.session_id)
        assert folder.read_note("summary") == note.markdown
        assert folder.read_notes_state()["notes"]["summary"]["stage"] == "delivered"
        # A tap on Summary again: the stored note, no second call.
        again = await service.request(session.session_id, Style.SUMMARY)
        assert again == note
        assert len(server.seen) == 1
    finally:
        await service.stop()


@pytest.mark.parametrize(
    ("default", "chat_style", "expected"),
    [
        ("off", None, None),
        ("summary", "off", None),
        ("todo", None, "todo"),
        ("off", "clean", "clean"),
    ],
)
async def test_the_chats_style_wins_over_the_default_and_off_makes_none(
    manager: FileSessionManager,
    server: StandIn,
    default: str,
    chat_style: str | None,
    expected: str | None,
) -> None:
    if chat_style is not None:
        await manager.update_chat_settings(1, lambda s: s.with_style(chat_style))
    session = await group_session(manager)
    service = service_for(manager, note_settings(server, llm_default_style=default))
    chat = Chat(service)
    await service.start()
    try:
        await manager.mark_delivered(session.session_id)
        if expected is None:
            await asyncio.sleep(0.3)
            assert chat.notes == []
            assert server.seen == []
        else:
            await chat.wait()
            assert [n.key for n in chat.notes] == [expected]
    finally:
        await service.stop()


async def test_the_chats_language_and_custom_instruction_reach_the_prompt(
    manager: FileSessionManager, server: StandIn
) -> None:
    await manager.update_chat_settings(
        1, lambda s: s.with_language("de").with_style("custom", "Write a short friendly email")
    )
    session = await group_session(manager)
    service = service_for(manager, note_settings(server))
    chat = Chat(service)
    await service.start()
    try:
        await manager.mark_delivered(session.session_id)
        await chat.wait()
        system = server.seen[0].body["messages"][0]["content"]
        assert 'ISO 639 code is "de"' in system
        assert "Write a short friendly email" in system
        assert chat.notes[0].key == "custom"
    finally:
        await service.stop()


async def test_a_note_owed_at_a_stop_is_made_once_after_the_restart(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    server.answer("hang")
    first = service_for(manager, note_settings(server, llm_timeout_seconds=60))
    Chat(first)
    await first.start()
    assert await first.request(sid, Style.TODO) is None
    await server.wait_for_requests(1)
    await first.stop()  # the bot stops while the model is still writing
    assert manager.folder(sid).read_notes_state()["notes"]["todo"]["stage"] == "owed"

    server.otherwise = "ok:- [ ] release notes (Ben)"
    second = service_for(manager, note_settings(server))
    chat = Chat(second)
    await second.start()
    await chat.wait()
    await second.stop()
    assert [n.markdown for n in chat.notes] == ["- [ ] release notes (Ben)"]
    calls = len(server.seen)

    third = service_for(manager, note_settings(server))
    chat = Chat(third)
    await third.start()
    await asyncio.sleep(0.3)
    await third.stop()
    assert chat.notes == []
    assert len(server.seen) == calls


async def test_a_crash_between_the_answer_and_the_delivery_calls_no_model_again(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    server.answer("ok:The clean text.")
    first = service_for(manager, note_settings(server))
    lost = Chat(first, deliver=False)  # handed over, but the bot dies before delivering
    await first.start()
    await first.request(sid, Style.CLEAN)
    await lost.wait()
    await first.stop()
    assert len(server.seen) == 1

    second = service_for(manager, note_settings(server))
    chat = Chat(second)
    await second.start()
    await chat.wait()
    await second.stop()
    assert [(n.key, n.markdown) for n in chat.notes] == [("clean", "The clean text.")]
    assert len(server.seen) == 1
    assert manager.folder(sid).read_notes_state()["notes"]["clean"]["stage"] == "delivered"


async def test_an_answer_stored_before_its_state_was_recorded_is_not_asked_again(
    manager: FileSessionManager, server: StandIn
) -> None:
    """The crash came after the note's file was written, before the state said written."""
    session = await group_session(manager)
    sid = session.session_id
    folder = manager.folder(sid)
    owed = {"stage": "owed", "prompt": "summary", "style": "summary"}
    await asyncio.to_thread(folder.write_notes_state, {"notes": {"summary": owed}})
    await asyncio.to_thread(folder.write_note, "summary", "# Stored")
    service = service_for(manager, note_settings(server))
    chat = Chat(service)
    await service.start()
    await chat.wait()
    await service.stop()
    assert [n.markdown for n in chat.notes] == ["# Stored"]
    assert server.seen == []


async def test_a_failing_model_ends_in_one_plain_reason_and_a_restart_tries_once_more(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    server.otherwise = "500"
    first = service_for(manager, note_settings(server))
    chat = Chat(first)
    await first.start()
    await first.request(sid, Style.SUMMARY)
    await chat.wait()
    await first.stop()
    assert chat.failures == [NoteFailure(sid, "summary", DID_NOT_ANSWER)]
    assert len(server.seen) == 3  # bounded
    assert manager.folder(sid).read_notes_state()["notes"]["summary"]["stage"] == "failed"

    server.otherwise = "ok:# Back"  # the endpoint is up again
    second = service_for(manager, note_settings(server))
    chat = Chat(second)
    await second.start()
    await chat.wait()
    await second.stop()
    assert [n.markdown for n in chat.notes] == ["# Back"]


async def test_a_note_that_failed_again_after_a_restart_waits_for_a_tap(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    server.otherwise = "500"
    for restart in range(3):
        service = service_for(manager, note_settings(server))
        chat = Chat(service)
        await service.start()
        if restart == 0:
            await service.request(session.session_id, Style.SUMMARY)
        if restart < 2:
            await chat.wait()
            assert len(chat.failures) == 1
        else:
            await asyncio.sleep(0.3)
            assert chat.failures == []  # not reported at every start
        await service.stop()
    assert len(server.seen) == 6
    # "Try again": a tap asks once more.
    server.otherwise = "ok:Now."
    service = service_for(manager, note_settings(server))
    chat = Chat(service)
    await service.start()
    await service.request(session.session_id, Style.SUMMARY)
    await chat.wait()
    await service.stop()
    assert [n.markdown for n in chat.notes] == ["Now."]


async def test_a_reply_instruction_reads_the_latest_note(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    service = service_for(manager, note_settings(server))
    chat = Chat(service)
    await service.start()
    try:
        server.answer("ok:# Long summary")
        await service.request(sid, Style.SUMMARY)
        await chat.wait()
        server.answer("ok:Short.")
        await service.request_reply(sid, "shorter", reply_to=314)
        await chat.wait(2)
        reply = chat.notes[1]
        assert (reply.key, reply.style, reply.title) == ("reply-314", None, "Answer")
        system, user = (m["content"] for m in server.seen[1].body["messages"])
        assert "shorter" in system
        assert user.endswith("<note>\n# Long summary\n</note>")
        # The same reply again hands the stored answer over without a call.
        await service.request_reply(sid, "shorter", reply_to=314)
        await chat.wait(3)
        assert chat.notes[2] == reply
        assert len(server.seen) == 2
    finally:
        await service.stop()


async def test_requests_for_sessions_without_a_transcript_are_refused(
    manager: FileSessionManager, server: StandIn
) -> None:
    service = service_for(manager, note_settings(server))
    collecting = await manager.create_session(5)
    with pytest.raises(NoTranscriptError):
        await service.request(collecting.session_id, Style.SUMMARY)
    with pytest.raises(SessionNotFoundError):
        await service.request("2020-01-01_00-00-00", Style.SUMMARY)
    session = await group_session(manager)
    with pytest.raises(ValueError, match="instruction"):
        await service.request(session.session_id, Style.CUSTOM)
    with pytest.raises(ValueError, match="note key"):
        await service.request(session.session_id, Style.CLEAN, key="../../x")
    await service.stop()


async def test_at_most_llm_concurrency_notes_are_written_at_once(
    manager: FileSessionManager, server: StandIn
) -> None:
    server.otherwise = "hang"
    sessions = [await group_session(manager, chat_id=n) for n in range(1, 5)]
    service = service_for(manager, note_settings(server, llm_concurrency=2))
    Chat(service)
    await service.start()
    for session in sessions:
        await service.request(session.session_id, Style.SUMMARY)
    await server.wait_for_requests(2)
    await asyncio.sleep(0.3)
    assert len(server.seen) == 2
    await service.stop()


async def test_a_session_deleted_while_its_note_is_written_stays_deleted(
    manager: FileSessionManager, server: StandIn
) -> None:
    session = await group_session(manager)
    server.otherwise = "hang"
    service = service_for(manager, note_settings(server, llm_timeout_seconds=1))
    chat = Chat(service)
    await service.start()
    await service.request(session.session_id, Style.SUMMARY)
    await server.wait_for_requests(1)
    await manager.delete_session(session.session_id)
    server.otherwise = "ok:late"
    await asyncio.sleep(3)
    await service.stop()
    assert not manager.get_session_path(session.session_id).exists()
    assert chat.notes == []


async def test_the_key_is_sent_to_the_endpoint_and_nowhere_else(
    manager: FileSessionManager,
    server: StandIn,
    sessions_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    session = await group_session(manager)
    settings = note_settings(server, llm_api_key=KEY)
    assert settings.secrets == [KEY]
    assert KEY not in repr(settings)
    server.answer("500", "500", "500", "ok:# Note mentioning nothing secret")
    service = service_for(manager, settings)
    chat = Chat(service)
    with capture_logs() as logs:
        await service.start()
        await service.request(session.session_id, Style.SUMMARY)
        await chat.wait()
        await service.request(session.session_id, Style.SUMMARY)  # after the failure
        await chat.wait(2)
        await service.stop()
    assert len(chat.failures) == 1
    assert len(chat.notes) == 1
    assert all(s.headers["Authorization"] == f"Bearer {KEY}" for s in server.seen)
    assert KEY not in repr(logs)
    assert KEY not in caplog.text
    assert KEY not in repr(chat.failures) + repr(chat.notes)
    for path in sessions_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


async def test_find_searches_the_written_notes_too(
    manager: FileSessionManager, server: StandIn, sessions_dir: Path
) -> None:
    from library import SessionLibrary, library_path

    library = SessionLibrary(library_path(sessions_dir), manager)
    await library.open()
    library.attach()
    try:
        session = await group_session(manager)
        await library.wait_idle()
        assert await library.search(1, "zebra") == []
        server.answer("ok:# Budget\n- the quarterly zebra budget")
        service = service_for(manager, note_settings(server))
        chat = Chat(service)
        await service.start()
        await service.request(session.session_id, Style.SUMMARY)
        await chat.wait()
        await service.stop()
        await library.wait_idle()
        [hit] = await library.search(1, "zebra")
        assert hit.session_id == session.session_id
        assert hit.is_written_note
        # A rebuild from the folders finds it again.
        await library.sync()
        assert [h.is_written_note for h in await library.search(1, "zebra")] == [True]
        # The voice notes' words are found as before, under their own numbers.
        assert [h.sequence for h in await library.search(1, "friday")] == [1]
    finally:
        await library.close()


async def test_a_hanging_model_holds_up_no_delivery_and_no_other_chat(
    manager: FileSessionManager, server: StandIn
) -> None:
    await manager.update_chat_settings(1, lambda s: s.with_style("summary"))
    await manager.update_chat_settings(2, lambda s: s.with_style("summary"))
    slow = await group_session(manager, chat_id=1)
    other = await group_session(manager, chat_id=2)
    service = service_for(manager, note_settings(server, llm_timeout_seconds=1))
    chat = Chat(service)
    await service.start()
    try:
        server.answer("hang", "hang", "hang")  # chat 1's first note: every try hangs
        started = asyncio.get_running_loop().time()
        await manager.mark_delivered(slow.session_id)
        await server.wait_for_requests(1)
        await service.request(slow.session_id, Style.TODO)  # more of chat 1's, queued
        await manager.mark_delivered(other.session_id)
        assert asyncio.get_running_loop().time() - started < 1  # deliveries never wait
        # Chat 2's note is recorded as owed at once, and waits its turn durably.
        state = manager.folder(other.session_id).read_notes_state()
        assert state["notes"]["summary"]["stage"] == "owed"
        # LLM_CONCURRENCY=1: when chat 1's hanging note gives up, chat 2's comes next,
        # before chat 1's to-dos.
        await chat.wait(3, within=30)
        assert chat.failures == [NoteFailure(slow.session_id, "summary", DID_NOT_ANSWER)]
        assert [(n.session_id, n.key) for n in chat.notes] == [
            (other.session_id, "summary"),
            (slow.session_id, "todo"),
        ]
    finally:
        await service.stop()
