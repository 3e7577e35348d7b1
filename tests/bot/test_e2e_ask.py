"""End to end: /ask against the real ``python -m bot``, the fake Bot API and the real llama.cpp
test server (which also serves embeddings here): an answer with references and Get buttons,
a question with no match, another chat's notes never used, a reply-scoped question, the
embeddings following /forget; then the same library without a model: the passages ranked.

The test model is tiny: what is checked is the path (references that exist and belong to
the chat, buttons, escaping, scoping), not the quality of the answer."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import ask_texts as at
from library import library_path
from sessions import EventBus, FileSessionManager, FileSessionStorage, SessionConfig
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, launch
from tests.bot.test_e2e_library import OTHER, in_chat, tap
from tests.bot.test_library_handlers import transcribed_session
from tests.fake_telegram import FakeTelegram, SentCall
from tests.llm_server import LlamaServer, require_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ANNA = "Anna said the deadline for the budget report is Friday the twelfth <b>sharp</b>."
FLAT = "We decided to sell the flat in Berlin and move to the coast in spring."
THEIRS = "Anna's deadline for the secret marketing plan is Monday, says the other chat."
REFERENCE = re.compile(r"^\[(\d+)\] \w{3} \d{2} \w{3}, (note \d+|written note)", re.MULTILINE)


@pytest.fixture(scope="module")
def embedding_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The test model, serving chat completions and embeddings on one endpoint."""
    server = LlamaServer(require_model(), tmp_path_factory.mktemp("llm-embed"), embedding=True)
    server.start()
    yield server
    server.stop()


async def seed(tmp_path: Path) -> dict[str, str]:
    config = SessionConfig(base_dir=tmp_path / "sessions")
    manager = FileSessionManager(FileSessionStorage(config.base_dir), config, EventBus())
    return {
        "anna": await transcribed_session(manager, ANNA),
        "flat": await transcribed_session(manager, FLAT),
        "theirs": await transcribed_session(manager, THEIRS, chat=OTHER),
    }


async def ask(fake: FakeTelegram, question: str, *, chat: int = CHAT, **kw: int) -> SentCall:
    since = len(fake.sent)
    fake.text(chat, chat if chat != CHAT else USER, f"/ask {question}".rstrip(), **kw)
    return await fake.wait_for(in_chat(chat), since=since, timeout=180)


def vectors(tmp_path: Path) -> list[tuple[str, int]]:
    """(session id, sequence) of every note that has a vector in the index's file."""
    with sqlite3.connect(library_path(tmp_path / "sessions")) as db:
        try:
            rows = db.execute(
                "SELECT n.session_id, n.sequence FROM note_vectors v"
                " JOIN notes n ON n.id = v.note_id"
            ).fetchall()
        except sqlite3.OperationalError:  # no table yet
            return []
    return [(str(r[0]), int(r[1])) for r in rows]


def vector_count(tmp_path: Path) -> int:
    with sqlite3.connect(library_path(tmp_path / "sessions")) as db:
        try:
            return int(db.execute("SELECT count(*) FROM note_vectors").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def check_reply(reply: SentCall, ours: set[str], theirs: set[str]) -> list[str]:
    """The sessions the reply's Get buttons name; each must be the chat's own."""
    text = reply.text or ""  # as Telegram shows it
    raw = str(reply.params.get("text", ""))  # as the bot sent it
    sessions = [d.removeprefix("get:") for _, d in reply.buttons()]
    assert sessions, reply
    assert set(sessions) <= ours
    assert not set(sessions) & theirs
    assert "marketing" not in text  # the other chat's words never appear
    assert "<b>sharp</b>" not in raw  # the notes' (and model's) text is escaped
    assert "<b>sharp</b>" in text or "sharp" not in raw
    return sessions


async def test_ask_with_a_model_then_without(
    fake: FakeTelegram,
    tmp_path: Path,
    running: list[BotProcess],
    embedding_server: LlamaServer,
) -> None:
    ids = await seed(tmp_path)
    ours, theirs = {ids["anna"], ids["flat"]}, {ids["theirs"]}
    env = {
        "LLM_BASE_URL": embedding_server.base_url,
        "LLM_MODEL": "smollm2",
        "LLM_EMBEDDING_MODEL": "smollm2",
        "LLM_TIMEOUT_SECONDS": "60",
        "LLM_CONTEXT_TOKENS": "2048",
    }
    proc = await launch(fake, tmp_path, running, **env)
    await eventually(lambda: "library_rebuilt" in [e["event"] for e in proc.events()])
    await eventually(lambda: vector_count(tmp_path) == 3, timeout=120)  # every note embedded

    # Without words: one line of help.
    assert (await ask(fake, "")).text == at.ASK_USAGE

    # An answer (or, if the tiny model cites nothing it was given, the passages), with a
    # Get button for each session referenced: only this chat's.
    # ... while the model works on it, another chat is answered.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/ask When is Anna's deadline?")
    fake.text(OTHER, OTHER, "/find deadline")
    found = await fake.wait_for(in_chat(OTHER), since=since, timeout=60)
    reply = await fake.wait_for(in_chat(CHAT), since=since, timeout=180)
    order = [id(c) for c in fake.sent]
    assert order.index(id(found)) < order.index(id(reply))
    assert "secret marketing plan" in (found.text or "")  # the other chat's own note
    assert reply.params.get("parse_mode") == "HTML"
    sessions = check_reply(reply, ours, theirs)
    assert ids["anna"] in sessions
    text = reply.text or ""
    numbers = [int(n) for n, _ in REFERENCE.findall(text)]
    assert numbers, text
    assert numbers == list(range(1, len(numbers) + 1))  # as many references as passages
    if text.startswith((at.PASSAGES_HEADER, "No answer")):
        outcomes = [e.get("outcome") for e in proc.events() if e["event"] == "ask_answered"]
        assert outcomes == ["passages"]
    else:  # every [n] in the answer names a reference listed under it
        body = text.split("\n\n")[0]
        assert {int(n) for n in re.findall(r"\[(\d+)\]", body)} <= set(numbers)

    # The Get button sends that session again.
    since = len(fake.sent)
    await tap(fake, CHAT, USER, reply, f"get:{ids['anna']}")
    transcript = await fake.wait_for(in_chat(CHAT), since=since, timeout=60)
    assert ids["anna"] in (transcript.text or "")

    # A question whose words no note has: said so, no model guess.
    assert (await ask(fake, "where is the purple walrus?")).text == at.NOTHING_FOUND

    # The other chat shares the words: it gets its own note, never ours.
    other = await ask(fake, "Anna deadline", chat=OTHER)
    assert [d for _, d in other.buttons()] == [f"get:{ids['theirs']}"]
    assert "budget" not in (other.text or "")

    # A reply to a session's transcript: that session only ("flat" is in the other one).
    assert transcript.message_id is not None
    scoped = await ask(fake, "the flat?", reply_to=transcript.message_id)
    assert scoped.text == at.NOTHING_FOUND_IN_SESSION
    scoped = await ask(fake, "Anna's deadline and the flat", reply_to=transcript.message_id)
    assert {d for _, d in scoped.buttons()} == {f"get:{ids['anna']}"}
    assert ids["flat"] in check_reply(await ask(fake, "the flat in Berlin"), ours, theirs)

    # /forget takes the session's vectors with its index rows.
    assert (ids["flat"], 1) in vectors(tmp_path)
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/forget {ids['flat']}")
    question = await fake.wait_for(in_chat(CHAT), since=since)
    await tap(fake, CHAT, USER, question, f"forget:{ids['flat']}:1")
    await eventually(lambda: ids["flat"] not in [s for s, _ in vectors(tmp_path)])
    assert vector_count(tmp_path) == 2
    await proc.terminate()

    # No model: the best passages themselves, ranked, with their Get buttons.
    proc = await launch(fake, tmp_path, running, LLM_BASE_URL="")
    reply = await ask(fake, "When is Anna's deadline?")
    assert (reply.text or "").startswith(at.PASSAGES_HEADER)
    assert "[1] " in (reply.text or "")
    assert check_reply(reply, ours, theirs) == [ids["anna"]]
    assert "&lt;b&gt;sharp&lt;/b&gt;" in str(reply.params.get("text"))
    assert (await ask(fake, "the purple walrus")).text == at.NOTHING_FOUND
