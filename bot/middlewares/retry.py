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
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetMe, GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from pydantic import ValidationError

_log = structlog.get_logger("bot.retry")

_OWN_LOOP = frozenset({GetUpdates.__api_method__, GetMe.__api_method__})


def _is_invalid_json_answer(exc: Exception) -> bool:
    """A JSON answer the client cannot read: asking again gets the same answer."""
    return isinstance(exc, ClientDecodeError) and isinstance(exc.original, ValidationError)


class RetryMiddleware(BaseRequestMiddleware):
    """429: wait ``retry_after`` and try again; 5xx, network errors and a proxy's HTML page
    instead of JSON: back off (doubling) and retry.

    ``getUpdates`` and ``getMe`` are left to their callers, which retry for as long as it
    takes (the poller, the start-up).
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
        if method.__api_method__ in _OWN_LOOP:
            return await make_request(bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= self.attempts:
                    raise
                delay: float = min(float(exc.retry_after), self.max_delay)
                error: Any = "429"
            except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
                if attempt >= self.attempts or _is_invalid_json_answer(exc):
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
