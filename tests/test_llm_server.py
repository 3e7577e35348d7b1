"""The test language model server (tests/llm_server.py) really serves the OpenAI API."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tests.llm_server import MODEL_NAME, LlamaServer, llama_server

pytestmark = pytest.mark.slow

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise: buy milk, and call Bob on Friday."}
]


async def _ask(base_url: str, api_key: str = "none") -> ChatCompletion:
    async with openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0) as client:
        return await client.chat.completions.create(
            model=MODEL_NAME, messages=QUESTION, max_tokens=32, timeout=60
        )


async def test_the_server_answers_chat_completions_with_the_openai_client(llm_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=llm_url, api_key="none", max_retries=0) as client:
        models = await client.models.list()
    assert MODEL_NAME in [m.id for m in models.data]
    answer = await _ask(llm_url)
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    assert 0 < answer.usage.completion_tokens <= 32


async def test_stopped_it_refuses_connections_and_restarted_it_answers_on_the_same_url(
    llm_server: LlamaServer, llm_url: str
) -> None:
    await llm_server.astop()
    with pytest.raises(openai.APIConnectionError):
        await _ask(llm_url)
    await llm_server.astart()
    assert llm_server.base_url == llm_url
    assert (await _ask(llm_url)).choices[0].message.content


def test_with_an_api_key_it_refuses_requests_without_it(tmp_path: Path) -> None:
    import asyncio

    with llama_server(tmp_path, api_key="test-key-123") as server:
        with pytest.raises(openai.AuthenticationError):
            asyncio.run(_ask(server.base_url, api_key="wrong"))
        assert asyncio.run(_ask(server.base_url, api_key="test-key-123")).choices


async def test_every_answer_is_capped_at_its_max_tokens(tmp_path: Path) -> None:
    """The tiny model may write until a request's max_tokens (thousands with a large context):
    the server caps it, here at 16 tokens with the end-of-text token ignored."""
    with llama_server(tmp_path, max_tokens=16, ignore_eos=True) as server:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="none", max_retries=0
        ) as client:
            long = await client.chat.completions.create(
                model=MODEL_NAME, messages=QUESTION, max_tokens=500, timeout=120
            )
            short = await client.chat.completions.create(
                model=MODEL_NAME, messages=QUESTION, max_tokens=5, timeout=120
            )
    assert long.usage is not None
    assert long.usage.completion_tokens == 16
    assert short.usage is not None
    assert short.usage.completion_tokens == 5
