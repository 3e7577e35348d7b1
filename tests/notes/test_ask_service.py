"""/ask's service on a real index, with a stand-in model where the model's answer is the point
(references checked against what was sent, failures): the relevance gate, the fallbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from library import SessionLibrary, library_path
from notes.ask import NO_VALID_REFERENCES, AskService, Outcome
from notes.client import Completion, ModelError
from notes.settings import NoteSettings
from sessions import FileSessionManager
from tests.sessions.helpers import transcribed


class Model:
    """Answers every question with ``answer`` (or raises ModelError); keeps what it was sent."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.sent: list[str] = []

    async def complete(self, system: str, user: str, *, max_tokens: int) -> Completion:
        self.sent.append(user)
        if self.answer is None:
            raise ModelError("the language model did not answer")
        return Completion(self.answer, 10, 10)


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    opened.attach()
    yield opened
    await opened.close()


def service(
    manager: FileSessionManager, library: SessionLibrary, model: Model | None
) -> AskService:
    settings = NoteSettings(llm_base_url="http://127.0.0.1:9/v1" if model else "")
    return AskService(manager, library, settings, client=model)  # type: ignore[arg-type]


async def two_sessions(manager: FileSessionManager, library: SessionLibrary) -> tuple[str, str]:
    anna = await transcribed(manager, 1, ["Anna's deadline for the budget report is Friday"])
    flat = await transcribed(manager, 1, ["We sold the flat", "the deadline for the flat"])
    await transcribed(manager, 2, ["Anna's deadline for the secret plan is Monday"])
    await library.wait_idle()
    return anna.session_id, flat.session_id


async def test_only_valid_references_are_kept_and_renumbered(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    anna, _ = await two_sessions(manager, library)
    model = Model("It is due on Friday [1][9]. See also [12].")
    result = await service(manager, library, model).ask(1, "When is Anna's deadline?")
    assert result.outcome is Outcome.ANSWER
    assert result.answer == "It is due on Friday [1]. See also."
    assert [(p.number, p.session_id, p.sequence) for p in result.passages] == [(1, anna, 1)]
    assert "secret plan" not in model.sent[0]  # the other chat's note is never sent


async def test_an_answer_citing_nothing_sent_shows_the_passages(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    anna, _ = await two_sessions(manager, library)
    result = await service(manager, library, Model("Friday [7].")).ask(1, "Anna's deadline?")
    assert result.outcome is Outcome.PASSAGES
    assert result.reason == NO_VALID_REFERENCES
    assert result.passages[0].session_id == anna


async def test_a_model_that_fails_and_no_model_show_the_passages(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    anna, flat = await two_sessions(manager, library)
    failed = await service(manager, library, Model(None)).ask(1, "Anna's deadline")
    assert failed.outcome is Outcome.PASSAGES
    assert failed.reason == "the language model did not answer"
    plain = await service(manager, library, None).ask(1, "Anna's deadline")
    assert plain.outcome is Outcome.PASSAGES
    assert plain.reason is None
    assert [p.session_id for p in plain.passages] == [anna, flat]  # ranked: both words first
    assert [p.number for p in plain.passages] == [1, 2]


async def test_nothing_relevant_asks_no_model(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    _, flat = await two_sessions(manager, library)
    model = Model("Whatever [1].")
    ask = service(manager, library, model)
    # "flat" matches, but one word of four is not enough to be about the question.
    result = await ask.ask(1, "purple walrus migration flat")
    assert result.outcome is Outcome.NOTHING
    assert (await ask.ask(1, "where is the walrus?")).outcome is Outcome.NOTHING
    assert model.sent == []
    scoped = await ask.ask(1, "Anna budget report", session_id=flat)
    assert scoped.outcome is Outcome.NOTHING


async def test_a_passage_shown_is_its_part_about_the_question(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    long = "Filler words about nothing much. " * 60 + "Anna's deadline is Friday. " + "More. " * 60
    await transcribed(manager, 1, [long])
    await library.wait_idle()
    [shown] = (await service(manager, library, None).ask(1, "Anna's deadline")).passages
    assert "Anna's deadline is Friday." in shown.text
    assert len(shown.text) < 400
