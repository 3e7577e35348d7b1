"""One bot message kept up to date: sent once, then edited to its newest text, throttled.

Telegram limits how often a chat's messages may be edited, and a reader cannot follow a
message that changes every few hundred milliseconds; so edits come at most every
``interval`` seconds, and the newest text wins (the ones in between are skipped). Used for
the collecting message (one per open session) and the progress message of a finalized one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup

from bot import texts

_log = structlog.get_logger("bot.live_message")

# Seconds between two edits of one message: slow enough for a reader and for Telegram's
# per-chat edit limits, quick enough that progress feels live.
EDIT_INTERVAL_SECONDS = 2.0


@dataclass
class LiveMessage:
    """A message in ``chat_id`` that shows the newest of the texts given to it."""

    bot: Bot
    chat_id: int
    interval: float = EDIT_INTERVAL_SECONDS
    message_id: int | None = None
    text: str = ""
    markup: InlineKeyboardMarkup | None = None
    last_edit: float = 0.0
    _pending: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(
        self, text: str, markup: InlineKeyboardMarkup | None = None, *, quiet: bool = False
    ) -> bool:
        """Send the message with ``text`` unless it was sent already; whether this call
        sent it. ``quiet``: without a notification sound. Telegram's errors propagate."""
        async with self._lock:
            if self.message_id is not None:
                return False
            self.text, self.markup = text, markup
            message = await self.bot.send_message(
                self.chat_id,
                texts.fit(text),
                reply_markup=markup,
                disable_notification=quiet or None,
            )
            self.message_id = message.message_id
            self.last_edit = time.monotonic()
            return True

    async def update(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Show ``text`` (and ``markup``) once the interval since the last edit has passed.

        Returns at once when an edit is already scheduled or under way: that one shows the
        newest text (it edits again, after the interval, if a newer one came meanwhile).
        """
        self.text, self.markup = text, markup
        if self._pending is not None and not self._pending.done():
            return
        self._pending = asyncio.current_task()
        try:
            while True:
                await self.due()
                shown = (self.text, self.markup)
                await self._apply()
                if (self.text, self.markup) == shown:
                    return
        finally:
            if self._pending is asyncio.current_task():
                self._pending = None

    async def due(self) -> None:
        """Wait until an edit would be made at once (the interval since the last one has
        passed): a caller that reads what to show after this shows the newest state."""
        wait = self.last_edit + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def finish(self, text: str, markup: InlineKeyboardMarkup | None = None) -> bool:
        """Show ``text`` now, in place of any edit still waiting; whether the chat shows it
        (False when the message was never sent, was deleted, or Telegram refused)."""
        pending = self._pending
        if pending is not None and pending is not asyncio.current_task():
            pending.cancel()
        self.text, self.markup = text, markup
        return await self._apply()

    async def _apply(self) -> bool:
        async with self._lock:
            if self.message_id is None:
                return False
            shown = True
            try:
                await self.bot.edit_message_text(
                    texts.fit(self.text),
                    chat_id=self.chat_id,
                    message_id=self.message_id,
                    reply_markup=self.markup,
                )
            except TelegramBadRequest as exc:  # "not modified" means it shows already
                shown = "not modified" in exc.message
                if not shown:
                    _log.debug("edit_refused", chat_id=self.chat_id, error=exc.message)
            except TelegramAPIError as exc:  # deleted by the user, or Telegram unreachable
                _log.debug("edit_failed", chat_id=self.chat_id, error=exc.message)
                shown = False
            self.last_edit = time.monotonic()
            return shown
