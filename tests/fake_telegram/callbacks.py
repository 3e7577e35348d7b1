"""Callback queries: taps on the bot's inline buttons, and the bot's answers to them."""

from __future__ import annotations

import copy
from typing import Any

from tests.fake_telegram.api import (
    DEFAULT_TOKEN,
    Handler,
    Params,
    Upload,
    bad_request,
    bool_param,
    str_param,
)
from tests.fake_telegram.updates import UpdatesMixin


class CallbacksMixin(UpdatesMixin):
    """Owns callback queries: pushes taps and records answerCallbackQuery."""

    def __init__(self, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        super().__init__(token, **options)
        self.callback_answers: dict[str, dict[str, Any]] = {}
        """answerCallbackQuery calls by callback query id: ``text`` and ``show_alert``."""
        self._callback_count = 0

    def _api_methods(self) -> dict[str, Handler]:
        return {**super()._api_methods(), "answerCallbackQuery": self._answer_callback_query}

    def callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> str:
        """Push a tap on an inline button of the bot's message ``message_id``; returns the
        callback query's id (see :meth:`wait_answered`)."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        self._callback_count += 1
        query_id = f"cb{self._callback_count}"
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if language_code is not None:
            user["language_code"] = language_code
        if chat_type != "private":
            message = {**message, "chat": {**message["chat"], "type": chat_type}}
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self.push_update({"callback_query": query})
        return query_id

    async def wait_answered(self, query_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the bot answered callback query ``query_id``; its answer's parameters."""
        return await self._wait_until(
            lambda: self.callback_answers.get(query_id),
            timeout,
            lambda: f"answerCallbackQuery for {query_id}",
        )

    async def _answer_callback_query(self, params: Params, uploads: dict[str, Upload]) -> bool:
        query_id = str_param(params, "callback_query_id")
        if not query_id:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers[query_id] = {
            "text": str_param(params, "text"),
            "show_alert": bool_param(params, "show_alert"),
        }
        self._notify()
        return True
