"""Long polling that confirms an update to Telegram only once it has been handled.

aiogram's own polling confirms each update at the next ``getUpdates`` call, even while its
handler is still running, so a crash mid-download would lose that voice note. Here the
offset sent to Telegram is the lowest update still being handled: anything unfinished is
delivered again after a crash. Updates already handled are recorded in the
:class:`UpdateJournal` and skipped when they come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update

from bot.services.ordering import ChatOrdering
from bot.services.update_journal import UpdateJournal
from bot.services.updates import handle_update, ticket_for

_log = structlog.get_logger("bot.polling")

# While updates are in flight Telegram keeps returning them at once; poll this often then.
BUSY_POLL_INTERVAL = 0.3


class ReliablePoller:
    """Fetches updates and handles them concurrently, confirming only finished ones."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        ordering: ChatOrdering,
        journal: UpdateJournal,
        *,
        poll_timeout: int = 30,
        on_poll: Callable[[], Any] | None = None,
        grace_seconds: float = 5.0,
    ) -> None:
        self._bot = bot
        self._dp = dispatcher
        self._ordering = ordering
        self._journal = journal
        self._poll_timeout = poll_timeout
        self._on_poll = on_poll
        self._grace_seconds = grace_seconds
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._next_offset = 0
        self._stopping = asyncio.Event()

    @property
    def offset(self) -> int:
        """What to confirm: everything below the lowest update still being handled."""
        if self._in_flight:
            return min(self._in_flight)
        return max(self._next_offset, self._journal.watermark)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll until :meth:`stop`; raises on a bad token."""
        self._next_offset = self._journal.watermark
        allowed = self._dp.resolve_used_update_types()
        backoff = 1.0
        while not self._stopping.is_set():
            timeout = 0 if self._in_flight else self._poll_timeout
            try:
                updates = await self._interruptible(
                    self._bot.get_updates(
                        offset=self.offset or None,
                        timeout=timeout,
                        allowed_updates=allowed,
                        request_timeout=timeout + 10,
                    )
                )
            except TelegramUnauthorizedError:
                raise
            except TelegramRetryAfter as exc:
                await self._pause(float(exc.retry_after))
                continue
            except (TelegramNetworkError, TelegramServerError) as exc:
                _log.warning("poll_failed", error=repr(exc), retry_in=backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if updates is None:  # stopping
                break
            backoff = 1.0
            if self._on_poll is not None:
                self._on_poll()
            fresh = [u for u in updates if self._is_new(u)]
            for update in fresh:
                self._start(update)
            if not fresh and self._in_flight:
                await self._wait_progress()
        await self._drain()

    def _is_new(self, update: Update) -> bool:
        uid = update.update_id
        self._next_offset = max(self._next_offset, uid + 1)
        return uid not in self._in_flight and not self._journal.is_handled(uid)

    def _start(self, update: Update) -> None:
        ticket = ticket_for(self._ordering, update)

        async def handle() -> None:
            await handle_update(self._dp, self._bot, update, ticket, self._ordering)
            del self._in_flight[update.update_id]
            await self._journal.record(update.update_id, self.offset)

        self._in_flight[update.update_id] = asyncio.create_task(
            handle(), name=f"update-{update.update_id}"
        )

    async def _interruptible(self, call: Any) -> Any:
        poll = asyncio.ensure_future(call)
        stop = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
        if poll in done:
            stop.cancel()
            return poll.result()
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await poll
        return None

    async def _wait_progress(self) -> None:
        # Until every update in flight is done (then a fresh long poll), or for the busy
        # interval: each poll meanwhile returns every unconfirmed update again.
        tasks = set(self._in_flight.values())
        stop = asyncio.ensure_future(self._stopping.wait())
        all_done = asyncio.ensure_future(asyncio.wait(tasks))
        await asyncio.wait(
            {all_done, stop}, timeout=BUSY_POLL_INTERVAL, return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        all_done.cancel()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _drain(self) -> None:
        """Give handlers in flight a moment; whatever is cut off is redelivered later."""
        started = time.monotonic()
        if self._in_flight:
            _, pending = await asyncio.wait(
                set(self._in_flight.values()), timeout=self._grace_seconds
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # Confirm what finished, so a clean restart does not see it again.
        with contextlib.suppress(Exception):
            if self.offset:
                await self._bot.get_updates(offset=self.offset, timeout=0, limit=1)
        _log.info("polling_stopped", drain_seconds=round(time.monotonic() - started, 2))
