"""Retries Bot API calls on Telegram's transient answers (429, 5xx, network errors)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

_log = structlog.get_logger("bot.retry")


class RetryMiddleware(BaseRequestMiddleware):
    """429: wait ``retry_after`` and try again; 5xx and network errors: back off and retry.

    ``getUpdates`` is left to the poller, which has its own loop.
    """

    def __init__(self, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 30.0) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == GetUpdates.__api_method__:
            return await make_request(bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.attempts:
                    raise
                delay: float = min(float(exc.retry_after), self.max_delay)
                error: Any = "429"
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt >= self.attempts:
                    raise
                delay = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
                error = type(exc).__name__
            _log.warning(
                "telegram_retry",
                method=type(method).__name__,
                attempt=attempt,
                delay_seconds=delay,
                error=error,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
