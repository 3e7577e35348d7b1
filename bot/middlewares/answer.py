"""Every button tap gets its answer (answerCallbackQuery), so the client's spinner stops."""

from __future__ import annotations

from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer

from bot.middlewares import Handler

_log = structlog.get_logger("bot.callbacks")


class AnswerEveryTap(BaseMiddleware):
    """Inner middleware on callback queries: hands the handler a ``callback_answer`` to put
    its text in, and answers the tap once the handler is over, whatever happened (a failure
    too). An answer Telegram refuses (a tap answered too late: "query is too old") is
    logged, not raised: the work the tap asked for is done either way."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery):
            return await handler(event, data)
        answer = data["callback_answer"] = CallbackAnswer(answered=False)
        try:
            return await handler(event, data)
        finally:
            if not answer.answered:
                try:
                    await event.answer(text=answer.text, show_alert=answer.show_alert)
                except TelegramAPIError as exc:
                    _log.info("callback_answer_failed", error=exc.message, data=event.data)
