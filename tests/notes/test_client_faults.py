"""The model's endpoint failing every way it can, against a real HTTP stand-in: a bounded
number of tries, then one plain reason; a good answer after a bad one is used."""

from __future__ import annotations

import time

import pytest

from notes.client import (
    BUSY,
    DID_NOT_ANSWER,
    NO_USABLE_ANSWER,
    NOT_FOUND,
    REFUSED_ACCESS,
    ModelClient,
    ModelError,
)
from notes.settings import NoteSettings
from tests.notes.standin import StandIn, refused_url, stand_in

FAST = (0.01, 0.01)  # the pauses before asking again after an unusable answer


def client(base_url: str, timeout: float = 5.0) -> ModelClient:
    settings = NoteSettings(
        llm_base_url=base_url, llm_model="m", llm_timeout_seconds=timeout, _env_file=None
    )
    return ModelClient(settings, empty_retry_delays=FAST)


async def ask(server: StandIn, wait: float = 5.0) -> str:
    model = client(server.base_url, wait)
    try:
        return (await model.complete("system", "user", max_tokens=50)).text
    finally:
        await model.close()


async def test_a_good_answer_is_returned_with_its_usage() -> None:
    async with stand_in() as server:
        server.answer("ok:<think>hmm</think>\n# Note\n- point")
        model = client(server.base_url)
        completion = await model.complete("the rules", "the words", max_tokens=77)
        await model.close()
    assert completion.text == "# Note\n- point"  # a reasoning model's thinking left out
    assert completion.prompt_tokens > 0
    body = server.seen[0].body
    assert body["model"] == "m"
    assert body["max_tokens"] == 77
    assert body["messages"] == [
        {"role": "system", "content": "the rules"},
        {"role": "user", "content": "the words"},
    ]


@pytest.mark.parametrize(
    ("answer", "reason"), [("429", BUSY), ("500", DID_NOT_ANSWER)], ids=["429", "500"]
)
async def test_errors_a_retry_may_fix_are_tried_three_times_then_reported(
    answer: str, reason: str
) -> None:
    async with stand_in() as server:
        server.otherwise = answer
        with pytest.raises(ModelError) as caught:
            await ask(server)
    assert caught.value.reason == reason
    assert len(server.seen) == 3  # the first try and the client's two retries


@pytest.mark.parametrize(("status", "reason"), [("401", REFUSED_ACCESS), ("404", NOT_FOUND)])
async def test_errors_a_retry_cannot_fix_are_reported_at_once(status: str, reason: str) -> None:
    async with stand_in() as server:
        server.otherwise = status
        with pytest.raises(ModelError) as caught:
            await ask(server)
    assert caught.value.reason == reason
    assert len(server.seen) == 1


async def test_a_hanging_endpoint_times_out_three_times_then_is_reported() -> None:
    async with stand_in() as server:
        server.otherwise = "hang"
        started = time.monotonic()
        with pytest.raises(ModelError) as caught:
            await ask(server, wait=0.3)
        took = time.monotonic() - started
    assert caught.value.reason == DID_NOT_ANSWER
    assert len(server.seen) == 3
    assert took < 20  # three timeouts and the client's short pauses: bounded


async def test_a_refused_connection_is_reported_after_the_bounded_tries() -> None:
    with refused_url() as url:
        model = client(url)
        started = time.monotonic()
        try:
            with pytest.raises(ModelError) as caught:
                await model.complete("s", "u", max_tokens=5)
        finally:
            await model.close()
    assert caught.value.reason == DID_NOT_ANSWER
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("answer", ["garbage", "shape", "empty", "null"])
async def test_unusable_answers_are_asked_again_a_bounded_number_of_times(answer: str) -> None:
    async with stand_in() as server:
        server.otherwise = answer
        with pytest.raises(ModelError) as caught:
            await ask(server)
    assert caught.value.reason == NO_USABLE_ANSWER
    assert 3 <= len(server.seen) <= 9  # three asks (a garbage body may be retried by the client)


async def test_a_good_answer_after_bad_ones_is_used() -> None:
    async with stand_in() as server:
        server.answer("500", "empty", "429", "garbage", "ok:Finally.")
        assert await ask(server) == "Finally."
