"""Long polling that confirms an update to Telegram only once it is durably ours.

aiogram's own polling confirms each update at the next ``getUpdates`` call, even while its
handler is still running, so a crash mid-download would lose that voice note. Waiting for
each update to be handled before confirming it would let one slow update hold the offset,
and so every chat (``getUpdates`` returns at most 100). Here each batch is first written to
the inbox (:mod:`bot.updates.inbox`, synced to disk), then handed to the runner, and the
next poll confirms it: nothing waits on a slow update but the later ones of its own chat.
At start-up the inbox's updates are handled again before the first poll. The first poll
sends no offset (a stale one from an earlier run, or another bot, would confirm away updates
numbered lower); later ones only what this process stored.

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
from bot.updates.inbox import UpdateInbox
from bot.updates.runner import UpdateRunner

_log = structlog.get_logger("bot.updates.polling")

MAX_BATCH = 100  # what getUpdates returns at most


class RawGetUpdates(GetUpdates):
    """``getUpdates`` answered as plain JSON objects, to be parsed one by one."""

    __returning__ = list[dict[str, Any]]


class ReliablePoller:
    """Fetches updates, stores them in the inbox, hands them to the runner; confirms only
    what is stored."""

    def __init__(
        self,
        runner: UpdateRunner,
        *,
        inbox: UpdateInbox | None = None,
        poll_timeout: int = 30,
        on_poll: Callable[[], Any] | None = None,
        grace_seconds: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._runner = runner
        # By default beside the update journal, in the sessions' data folder.
        self._inbox = inbox or UpdateInbox.beside(runner.journal.path)
        runner.inbox = self._inbox
        self._bot = runner.bot
        self._poll_timeout = poll_timeout
        self._on_poll = on_poll
        self._grace_seconds = grace_seconds
        self._backoff = backoff or Backoff()
        self._next_offset = 0  # one above the highest update id this process has seen
        self._polled = False  # whether a poll has been answered yet
        self._stopping = asyncio.Event()

    @property
    def offset(self) -> int:
        """What to confirm: everything this process has seen, which is in the inbox (or was
        handled, or is skipped) by now."""
        return self._next_offset

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll until :meth:`stop`; raises on a refused token, rides out everything else."""
        held = await self._inbox.open(self._runner.bot_id)
        try:
            self._runner.take_over(held)  # before polling: in the order they first came
            await self._poll(self._runner.dispatcher.resolve_used_update_types())
        finally:  # a refused token too: what is in flight gets its grace
            await self._drain()
            await self._inbox.close()

    async def _poll(self, allowed: list[str]) -> None:
        while not self._stopping.is_set():
            room = min(self._inbox.room, MAX_BATCH)
            # Full: a short poll only confirms what is stored (and feeds the health check);
            # what it returns stays with Telegram (it keeps updates a day) until there is room.
            # The first poll is a short one too: its answer says at once that the Bot API
            # works (the start's "ready"), not after a long poll's wait.
            timeout = self._poll_timeout if room and self._polled else 0
            offset = self.offset
            request = RawGetUpdates(
                offset=offset or None, timeout=timeout, limit=room or 1, allowed_updates=allowed
            )
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
            self._polled = True
            if offset:
                # Held ones stay remembered: a crash before they leave the inbox re-runs
                # them, and the journal must then still say whether they were handled.
                self._runner.journal.forget_confirmed(offset, keep=self._inbox.holds)
            if self._on_poll is not None:
                self._on_poll()
            if room:
                await self._take(cast(list[Any], batch), offset)
            else:
                await self._wait_progress()

    async def _take(self, batch: list[Any], offset: int) -> None:
        """Store the new updates of a batch durably, then hand them to the runner."""
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
        fresh = [raw for raw in batch if _update_id(raw) is None or self._is_new(raw)]
        # On disk before the next poll confirms them to Telegram.
        await self._inbox.store(raw for raw in fresh if _update_id(raw) is not None)
        self._runner.take_over(fresh)

    def _is_new(self, raw: Any) -> bool:
        update_id = _update_id(raw)
        return update_id is not None and self._runner.is_new(update_id)

    async def _wait_progress(self) -> None:
        # Until an update in flight is done, or a poll timeout has passed (a poll then tells
        # the health check polling still works), or stopping.
        tasks = set(self._runner.in_flight.values())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait(
                {*tasks, stop}, timeout=self._poll_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
        if self._inbox.room == 0 and not self._stopping.is_set():
            _log.warning("inbox_full", held=self._inbox.limit, action="fetching nothing new")

    async def _drain(self) -> None:
        """Give handlers in flight a moment; whatever is cut off stays in the inbox."""
        started = time.monotonic()
        await self._runner.drain(self._grace_seconds)
        # Confirm what is stored, so a clean restart does not get it again; the server may
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


def _update_id(raw: Any) -> int | None:
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    return update_id if isinstance(update_id, int) else None
