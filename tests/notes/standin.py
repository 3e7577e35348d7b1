"""A small OpenAI-compatible stand-in on 127.0.0.1 that answers as a test scripts it: a
completion, 429, 500, a hang, a body that is not JSON, one of the wrong shape, an empty
answer. It records each request (headers and body) so tests can count the tries."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = (
    str  # "ok:<text>", "429", another status ("500"), "hang", "garbage", "shape", "empty", "null"
)


@dataclass
class Seen:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StandIn:
    base_url: str = ""
    script: deque[Answer] = field(default_factory=deque)
    otherwise: Answer | Callable[[dict[str, Any]], Answer] = "ok:A note."
    seen: list[Seen] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for_requests(self, count: int, within: float = 30.0) -> None:
        """Until ``count`` requests have come in (TimeoutError after ``within`` seconds)."""
        async with asyncio.timeout(within):
            while len(self.seen) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.seen.append(Seen(dict(request.headers), body))
        self._arrived.set()
        if self.script:
            what = self.script.popleft()
        else:
            what = self.otherwise(body) if callable(self.otherwise) else self.otherwise
        if what == "429":
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "0"}
            )
        if what.isdigit():  # "500", "401", "404"...
            return web.json_response({"error": {"message": "boom"}}, status=int(what))
        if what == "hang":
            await asyncio.sleep(3600)
        if what == "garbage":
            return web.Response(text="<html>not json{", content_type="application/json")
        if what == "shape":
            return web.json_response({"unexpected": [1, 2, 3]})
        content: str | None = what.removeprefix("ok:")
        if what == "empty":
            content = "   "
        elif what == "null":
            content = None
        return web.json_response(_completion(content, body))


def _completion(content: str | None, body: dict[str, Any]) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "m"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": len(content or "") // 4,
            "total_tokens": prompt + len(content or "") // 4,
        },
    }


@asynccontextmanager
async def stand_in() -> AsyncIterator[StandIn]:
    server = StandIn()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server._handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server
    finally:
        await runner.cleanup()


@contextmanager
def refused_url() -> Iterator[str]:
    """An address on 127.0.0.1 that refuses connections for as long as the block runs.

    The port is held bound but never listened on: a port that was merely free could
    be taken meanwhile by a server another test starts, which would then answer.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/v1"
