"""One structured log line per handled update, with chat, kind and timing."""

from __future__ import annotations

import time
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from bot.middlewares import Handler

_log = structlog.get_logger("bot.updates")


class UpdateLoggingMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        if isinstance(event, Update):
            fields["update_id"] = event.update_id
            message = event.message
            if message is not None:
                fields["chat_id"] = message.chat.id
                fields["message_id"] = message.message_id
                fields["kind"] = message.content_type
            query = event.callback_query
            if query is not None:  # a button tap
                fields["kind"] = "callback_query"
                if query.message is not None:
                    fields["chat_id"] = query.message.chat.id
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "ok"
            return result
        finally:
            _log.info(
                "update_handled",
                outcome=outcome,
                ms=round((time.perf_counter() - started) * 1000, 1),
                **fields,
            )
