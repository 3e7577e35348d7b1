"""The state every concern of the fake shares: waiting, recording and the chats' messages."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.fake_telegram.api import DEFAULT_TOKEN, Handler, Params, int_param, json_param
from tests.fake_telegram.records import SentCall

_T = TypeVar("_T")


class FakeCore:
    """The shared base of the fake's concerns (each a mixin over it).

    Each concern keeps its own state, set in its own ``__init__`` (they chain through
    ``**options``), and names its Bot API methods in :meth:`_api_methods`.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, timeout_scale: float = 1.0) -> None:
        """Hold the token, the chats' messages and what the bot sent; nothing listens yet."""
        self.token = token
        self.timeout_scale = timeout_scale
        """Every ``timeout`` of the test-side waits is multiplied by this: they are upper
        bounds, and a busy machine must not turn a slow answer into a failure."""
        self.bot_user: dict[str, Any] = {}
        """The bot's own ``User`` (set by the profile concern)."""
        self.sent: list[SentCall] = []
        """Successful chat-changing calls by the bot, in order (see :class:`SentCall`)."""
        self.calls: list[tuple[str, float]] = []
        """Every authorised API method call as (method name, :func:`time.monotonic`)."""
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._closing = False

    def _api_methods(self) -> dict[str, Handler]:
        """The Bot API methods this concern answers, by canonical name (each adds its own)."""
        return {}

    def _notify(self) -> None:
        """Wake every waiter; they re-check their condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(
        self,
        find: Callable[[], _T | None],
        timeout: float,  # noqa: ASYNC109
        describe: Callable[[], str],
        *,
        scaled: bool = True,
    ) -> _T:
        """Return ``find()`` once it is not None, woken by state changes, or time out.

        A test's wait is ``scaled`` by :attr:`timeout_scale`; the server's own (a long poll)
        is not: it is part of the behaviour under test."""
        loop = asyncio.get_running_loop()
        if scaled:
            timeout *= self.timeout_scale
        deadline = loop.time() + timeout
        while (found := find()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe()}")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return found

    def _next_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _remember_message(self, message: dict[str, Any]) -> None:
        chat = message["chat"]
        chat_id, message_id = int(chat["id"]), int(message["message_id"])
        self._chats.setdefault(chat_id, chat)
        self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)
        self._messages[(chat_id, message_id)] = message

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """The chat object for ``chat_id``, as seen in updates or a plausible default."""
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}

    def _bot_message(self, chat_id: int, params: Params, content: dict[str, Any]) -> dict[str, Any]:
        """Build, store and return a new message from the bot in ``chat_id``."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        reply = json_param(params, "reply_parameters")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        reply_to = reply_to or int_param(params, "reply_to_message_id")
        if reply_to is not None and (chat_id, int(reply_to)) in self._messages:
            replied = dict(self._messages[(chat_id, int(reply_to))])
            replied.pop("reply_to_message", None)
            message["reply_to_message"] = replied
        markup = json_param(params, "reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _record(self, call: SentCall) -> None:
        self.sent.append(call)
        self._notify()
