"""Long polling that confirms an update to Telegram only once it has been handled.

aiogram's own polling confirms each update at the next ``getUpdates`` call, even while its
handler is still running, so a crash mid-download would lose that voice note. Here the
offset sent to Telegram is the lowest update still being handled (see
:class:`~bot.updates.runner.UpdateRunner`): anything unfinished is delivered again after a
crash. The first poll sends no offset (a stale one from an earlier run, or another bot,
would confirm away updates numbered lower); later ones only what this process saw.

Updates are fetched as raw JSON and parsed one by one: one update the client cannot parse
(a poison update) would otherwise fail the whole batch, every time, for every chat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import structlog
from aiogram.exceptions import AiogramError, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import GetUpdates

from bot.updates.connect import (
    SHUTDOWN_CALL_SECONDS,
    Backoff,
    describe_error,
    pause,
    unless_stopped,
)
from bot.updates.runner import UpdateRunner

_log = structlog.get_logger("bot.updates.polling")

# While updates are in flight Telegram keeps returning them at once; poll this often then.
BUSY_POLL_INTERVAL = 0.3


class RawGetUpdates(GetUpdates):
    """``getUpdates`` answered as plain JSON objects, to be parsed one by one."""

    __returning__ = list[dict[str, Any]]


class ReliablePoller:
    """Fetches updates and hands them to the runner, confirming only finished ones."""

    def __init__(
        self,
        runner: UpdateRunner,
        *,
        poll_timeout: int = 30,
        on_poll: Callable[[], Any] | None = None,
        grace_seconds: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._runner = runner
        self._bot = runner.bot
        self._poll_timeout = poll_timeout
        self._on_poll = on_poll
        self._grace_seconds = grace_seconds
        self._backoff = backoff or Backoff()
        self._next_offset = 0  # one above the highest update id this process has seen
        self._stopping = asyncio.Event()

    @property
    def offset(self) -> int:
        """What to confirm: everything below the lowest update still being handled."""
        lowest = self._runner.lowest_in_flight()
        return lowest if lowest is not None else self._next_offset

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll until :meth:`stop`; raises on a refused token, rides out everything else."""
        try:
            await self._poll(self._runner.dispatcher.resolve_used_update_types())
        finally:  # a refused token too: what is in flight gets its grace
            await self._drain()

    async def _poll(self, allowed: list[str]) -> None:
        while not self._stopping.is_set():
            timeout = 0 if self._runner.in_flight else self._poll_timeout
            offset = self.offset
            request = RawGetUpdates(offset=offset or None, timeout=timeout, allowed_updates=allowed)
            try:
                batch = await unless_stopped(
                    self._bot(request, request_timeout=timeout + 10), self._stopping
                )
            except TelegramUnauthorizedError:
                raise
            except TelegramRetryAfter as exc:
                _log.warning("poll_rate_limited", retry_in=exc.retry_after)
                await pause(float(exc.retry_after), self._stopping)
                continue
            except AiogramError as exc:
                delay = self._backoff.next()
                _log.warning("poll_failed", error=describe_error(exc), retry_in=delay)
                await pause(delay, self._stopping)
                continue
            if batch is None:  # stopping
                break
            self._backoff.reset()
            if offset:
                self._runner.journal.forget_confirmed(offset)
            if self._on_poll is not None:
                self._on_poll()
            started = self._take(cast(list[Any], batch), offset)
            if not started and self._runner.in_flight:
                await self._wait_progress()

    def _take(self, batch: list[Any], offset: int) -> bool:
        """Hand a batch to the runner; whether any update was started."""
        ids = [u["update_id"] for u in batch if isinstance(u, dict) and "update_id" in u]
        ids = [i for i in ids if isinstance(i, int)]
        if ids:
            if offset and min(ids) < offset:
                # Telegram numbers afresh (lower) after a week without updates: our offset
                # means nothing to it now. Follow the new numbering.
                _log.warning("update_id_reset", lowest=min(ids), offset_sent=offset)
                self._next_offset = max(ids) + 1
            else:
                self._next_offset = max(self._next_offset, max(ids) + 1)
        before = set(self._runner.in_flight)
        for raw in batch:
            update = self._runner.parse(raw)
            if update is not None:
                self._runner.accept(update)
        return bool(set(self._runner.in_flight) - before)

    async def _wait_progress(self) -> None:
        # Until every update in flight is done (then a fresh long poll), or for the busy
        # interval: each poll meanwhile returns every unconfirmed update again.
        tasks = set(self._runner.in_flight.values())
        stop = asyncio.ensure_future(self._stopping.wait())
        all_done = asyncio.ensure_future(asyncio.wait(tasks))
        await asyncio.wait(
            {all_done, stop}, timeout=BUSY_POLL_INTERVAL, return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        all_done.cancel()

    async def _drain(self) -> None:
        """Give handlers in flight a moment; whatever is cut off is redelivered later."""
        started = time.monotonic()
        await self._runner.drain(self._grace_seconds)
        # Confirm what finished, so a clean restart does not see it again; the server may
        # not answer at all, so this gets a short deadline.
        offset = self.offset
        if offset:
            request = RawGetUpdates(offset=offset, timeout=0, limit=1)
            try:
                await asyncio.wait_for(
                    self._bot(request, request_timeout=int(SHUTDOWN_CALL_SECONDS) + 1),
                    SHUTDOWN_CALL_SECONDS,
                )
            except (TimeoutError, AiogramError) as exc:
                _log.warning("final_confirm_failed", offset=offset, error=describe_error(exc))
        _log.info("polling_stopped", drain_seconds=round(time.monotonic() - started, 2))
