"""Sends a session's messages and files so that delivery finishes, and finishes once.

A delivery is a list of :class:`Part` (one message or one file), each named by a key. A part
that reached the chat is recorded in the session's metadata (``delivery.sent``) before the
next one goes, so a restart sends only what had not arrived. Transient failures (5xx,
network errors, 429, an HTML page from a proxy) are retried in this process with a doubling
backoff, for as long as the bot runs; a part Telegram refuses for good (400, 403, 404, 413)
is logged, recorded in ``delivery.refused`` with Telegram's reason, and skipped, so one bad
message cannot block the rest, nor ``delivered_at``, for ever.

The processor's files are read without following links: ``process/output`` and each file in
it are opened with ``O_NOFOLLOW`` and must be regular files, so a symlink the processor
left there (to ``/etc/passwd``, say) is never sent.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, InputFile

from bot import texts
from bot.services.message_index import MessageIndex
from sessions import OutputListing, Session, SessionManager, UnreadableOutputError

_log = structlog.get_logger("bot.delivery")

UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # sendDocument on Telegram's cloud Bot API
# /get tries each part this often (each try retried by the Bot API session's middleware too),
# then tells the chat to ask again: it holds the chat's turn, unlike a delivery in the
# background, which tries until the part arrives.
RESEND_ATTEMPTS = 3
# Refused for good: retrying the same request cannot change Telegram's answer.
_PERMANENT = (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramEntityTooLarge,
    TelegramMigrateToChat,
)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Doubling backoff: ``first_delay``, twice that, four times... at most ``max_delay``."""

    first_delay: float = 1.0
    max_delay: float = 300.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.first_delay * 2 ** (attempt - 1), self.max_delay))


@dataclass(frozen=True)
class Part:
    """One message or file of a delivery.

    Exactly one of ``text`` (a message), ``data`` (a file made here, named ``filename``) or
    ``output`` (a file name in the session's ``process/output/``) is set.
    """

    key: str
    text: str | None = None
    data: bytes | None = field(default=None, repr=False)
    filename: str | None = None
    output: str | None = None
    html: bool = False  # ``text`` is Telegram HTML, escaped and within the limits already
    caption: str | None = None  # of a file made here
    keyboard: InlineKeyboardMarkup | None = None  # buttons under the message or file


class Courier:
    """Sends parts to a chat, one after the other, recording each one that arrived."""

    def __init__(
        self,
        bot: Bot,
        manager: SessionManager,
        *,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        messages: MessageIndex | None = None,
    ) -> None:
        self._bot = bot
        self._manager = manager
        self._messages = messages  # each message sent, by session: replies find theirs
        self._retry = retry or RetryPolicy()
        self._sleep = sleep or asyncio.sleep

    async def send_all(self, session: Session, parts: list[Part]) -> None:
        """Send every part not yet sent (or refused) in ``session.delivery``, in order."""
        for part in parts:
            if not session.delivery.done(part.key):
                await self.send(session, part)

    async def resend(
        self, session: Session, parts: list[Part], *, attempts: int = RESEND_ATTEMPTS
    ) -> bool:
        """Send ``parts`` again (``/get``), in order, whatever ``session.delivery`` says, and
        record nothing: the first delivery's record stays as it was. False when a part
        could not be sent in ``attempts`` tries (the rest are not tried)."""
        for part in parts:
            if not await self.send(session, part, record=False, attempts=attempts):
                return False
        return True

    async def send(
        self, session: Session, part: Part, *, record: bool = True, attempts: int | None = None
    ) -> bool:
        """Send one part until it arrives or is refused for good; record which (unless
        ``record`` is false). With ``attempts``, give up after that many tries that failed
        for a reason retrying could fix, and return False."""
        log = _log.bind(session_id=session.session_id, part=part.key)
        attempt = 0
        while True:
            attempt += 1
            try:
                message_id = await self._send_once(session, part)
            except (*_PERMANENT, UnreadableOutputError) as exc:
                reason = _reason(exc)
                log.warning("delivery_part_refused", error=reason, attempt=attempt)
                if record:
                    await self._manager.record_delivery(
                        session.session_id, part.key, refused=reason
                    )
                return True
            except TelegramRetryAfter as exc:
                delay = float(exc.retry_after)  # Telegram says how long: wait exactly that
                error = "429"
            except (TelegramAPIError, ClientDecodeError) as exc:
                delay = self._retry.delay(attempt)
                error = _reason(exc)
            else:
                if self._messages is not None:
                    await self._messages.remember(session.chat_id, message_id, session.session_id)
                if record:
                    await self._manager.record_delivery(session.session_id, part.key)
                return True
            if attempts is not None and attempt >= attempts:
                log.warning("delivery_gave_up", attempt=attempt, error=error)
                return False
            log.warning("delivery_retry", attempt=attempt, delay_seconds=delay, error=error)
            await self._sleep(delay)

    async def _send_once(self, session: Session, part: Part) -> int:
        """Send ``part``; the id of the message it became."""
        chat_id = session.chat_id
        keyboard = part.keyboard
        if part.text is not None:
            if part.html:  # cutting it could break a tag: it was built to fit
                sent = await self._bot.send_message(
                    chat_id, part.text, parse_mode=ParseMode.HTML, reply_markup=keyboard
                )
            else:
                sent = await self._bot.send_message(
                    chat_id, texts.fit(part.text), reply_markup=keyboard
                )
        elif part.data is not None:
            name = part.filename or "file"
            upload = BufferedInputFile(part.data, filename=name)
            sent = await self._bot.send_document(
                chat_id, upload, caption=part.caption, reply_markup=keyboard
            )
        elif part.output is not None:
            folder = self._manager.folder(session.session_id)
            fd = await asyncio.to_thread(folder.open_output, part.output, UPLOAD_LIMIT_BYTES)
            try:
                sent = await self._bot.send_document(chat_id, _DescriptorFile(fd, part.output))
            finally:
                os.close(fd)
        else:  # pragma: no cover - a Part always carries one of them
            raise ValueError(f"empty part {part.key}")
        return sent.message_id


class _DescriptorFile(InputFile):
    """An upload read from an open descriptor, from its start (so a retry sends it whole)."""

    def __init__(self, fd: int, filename: str) -> None:
        super().__init__(filename=filename, chunk_size=1 << 20)  # fewer trips to a thread
        self._fd = fd

    async def read(self, bot: Bot) -> AsyncGenerator[bytes, None]:
        offset = 0
        while chunk := await asyncio.to_thread(os.pread, self._fd, self.chunk_size, offset):
            offset += len(chunk)
            yield chunk


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TelegramAPIError):
        return exc.message
    return str(exc) or type(exc).__name__


__all__ = [
    "UPLOAD_LIMIT_BYTES",
    "Courier",
    "OutputListing",
    "Part",
    "RetryPolicy",
    "UnreadableOutputError",
]
