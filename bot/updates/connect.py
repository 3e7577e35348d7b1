"""Reaching the Bot API: backoff, one clear line per failure, and calls a stop can cut off.

A service must come up when the network does: a call that fails for a reason retrying can
fix (no connection, a 5xx, a proxy's HTML page, a 409 conflict, a 429) is tried again with
a doubling delay, for as long as it takes; only a token Telegram refuses is final.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from pydantic import ValidationError

_log = structlog.get_logger("bot.updates.connect")

_T = TypeVar("_T")

# Calls made while stopping (the last confirmation) get this long: the server may hang.
SHUTDOWN_CALL_SECONDS = 1.5
MAX_ERROR_CHARS = 200

RETRYABLE: tuple[type[AiogramError], ...] = (
    TelegramNetworkError,
    TelegramServerError,
    ClientDecodeError,
    TelegramConflictError,
    TelegramRetryAfter,
)


@dataclass
class Backoff:
    """A delay that starts at ``first`` seconds and doubles up to ``cap``."""

    first: float = 1.0
    cap: float = 60.0
    current: float = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.first

    def next(self) -> float:
        """The delay to wait now; the one after it is twice as long (up to the cap)."""
        delay = self.current
        self.current = min(self.current * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.first


def describe_error(exc: BaseException) -> str:
    """One short line saying what went wrong, without the body of an HTML page."""
    if isinstance(exc, ClientDecodeError):
        if isinstance(exc.original, ValidationError):
            return "the answer did not match the Bot API"
        return "the answer was not JSON (an HTML page from a proxy?)"
    if isinstance(exc, TelegramConflictError):
        return "409 Conflict (another instance polling with this token, or a webhook set)"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MAX_ERROR_CHARS]


async def unless_stopped(call: Awaitable[_T], stopping: asyncio.Event) -> _T | None:
    """The result of ``call``, or None (with the call cancelled) once ``stopping`` is set."""
    work = asyncio.ensure_future(call)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await work
    return None


async def pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Wait ``seconds``; True if stopping was requested meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


async def until_answered(
    call: Callable[[], Awaitable[_T]],
    *,
    what: str,
    api: str,
    stopping: asyncio.Event,
    backoff: Backoff | None = None,
) -> _T | None:
    """``call()`` retried with backoff until it succeeds; None when stopped first.

    Raises what retrying cannot fix (a refused token, a bad request). ``api`` is the base
    URL, named in the log line (never the token)."""
    backoff = backoff or Backoff()
    failed = 0
    while True:
        try:
            result = await unless_stopped(call(), stopping)
        except RETRYABLE as exc:
            failed += 1
            delay = (
                float(exc.retry_after) if isinstance(exc, TelegramRetryAfter) else backoff.next()
            )
            _log.warning(
                "telegram_unreachable",
                api=api,
                call=what,
                error=describe_error(exc),
                retry_in=delay,
                attempt=failed,
                action="keeps trying",
            )
            if await pause(delay, stopping):
                return None
            continue
        if result is not None and failed:
            _log.info("telegram_reachable", api=api, call=what, after_attempts=failed + 1)
        return result
