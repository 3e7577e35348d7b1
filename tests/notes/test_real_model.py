"""The notes against a real OpenAI-compatible server: llama.cpp serving SmolLM2-135M
(``tests/llm_server.py``). The model is tiny: these test the path (requests, styles, the
map-reduce of a long session, an endpoint that goes down and comes back), not the quality."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from notes.client import DID_NOT_ANSWER
from notes.render import MESSAGE_LIMIT, telegram_length
from notes.settings import NoteSettings
from notes.styles import Style
from sessions import FileSessionManager
from tests.llm_server import MODEL_NAME, LlamaServer
from tests.notes.test_render import check
from tests.notes.test_service import Chat, group_session, service_for
from tests.processing import transcribed_session

pytestmark = pytest.mark.slow


def real(url: str, **more: Any) -> NoteSettings:
    # A small context holds the tiny model's answers short (a quarter of it at most): it
    # rambles, and the machine running the tests is slow.
    options: dict[str, Any] = {"llm_context_tokens": 2048, **more}
    return NoteSettings(
        llm_base_url=url, llm_model=MODEL_NAME, llm_timeout_seconds=120, _env_file=None, **options
    )


async def test_each_style_is_written_by_the_real_model_stored_and_rendered(
    manager: FileSessionManager, llm_url: str
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    await manager.update_chat_settings(1, lambda s: s.with_style("todo"))
    service = service_for(manager, real(llm_url))
    chat = Chat(service)
    await service.start()
    try:
        await manager.mark_delivered(sid)  # the automatic note, in the chat's style
        await chat.wait()
        await service.request(sid, Style.MINUTES)
        await chat.wait(2)
    finally:
        await service.stop()
    assert chat.failures == []
    assert [n.key for n in chat.notes] == ["todo", "minutes"]
    folder = manager.folder(sid)
    for note in chat.notes:
        assert note.markdown.strip()
        assert folder.read_note(note.key) == note.markdown
        for part in note.html_parts:
            assert telegram_length(part) <= MESSAGE_LIMIT
            check(part)


async def test_a_long_session_goes_through_map_reduce_within_a_small_context(
    manager: FileSessionManager, llm_url: str
) -> None:
    said = [
        f"text:Point {n}: the team talked about item {n} of the plan, who owns it and when "
        f"it is due, and agreed that item {n} needs a review before the end of the week."
        for n in range(14)
    ]
    session = await transcribed_session(manager, *((s, 5.0) for s in said))
    service = service_for(manager, real(llm_url, llm_context_tokens=1024))
    chat = Chat(service)
    with capture_logs() as logs:
        await service.start()
        try:
            await service.request(session.session_id, Style.SUMMARY)
            await chat.wait(within=60)
        finally:
            await service.stop()
    assert chat.failures == []
    assert chat.notes[0].markdown.strip()
    [written] = [e for e in logs if e["event"] == "note_written"]
    assert written["rounds"] >= 1
    assert written["calls"] >= 3  # the parts condensed, then the note from them


async def test_the_endpoint_down_gives_a_plain_failure_and_back_up_the_note(
    manager: FileSessionManager, llm_server: LlamaServer, llm_url: str
) -> None:
    session = await group_session(manager)
    sid = session.session_id
    await llm_server.astop()
    try:
        first = service_for(manager, real(llm_url))
        chat = Chat(first)
        await first.start()
        await first.request(sid, Style.SUMMARY)
        await chat.wait()
        await first.stop()
        assert [f.reason for f in chat.failures] == [DID_NOT_ANSWER]
    finally:
        await llm_server.astart()
    # Restarted with the endpoint back: the failed note is made, once.
    second = service_for(manager, real(llm_url))
    chat = Chat(second)
    await second.start()
    await chat.wait()
    await second.stop()
    assert [n.key for n in chat.notes] == ["summary"]
    assert chat.failures == []
