"""Only allowed users get past this; everyone else gets one clear answer and nothing stored.

A stranger is told once a day (per chat, in a private chat as in a group), not at every
message: in a private chat with their user id and how the owner lets them in, in a group in
one line (and only when they wrote to the bot: a command or a recording). Telegram's
service accounts (anonymous admins, channel posts, the "Telegram" account) are not answered
at all: the bot must not drown a chat in refusals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot import texts
from bot.config import AccessPolicy
from bot.middlewares import Handler

_log = structlog.get_logger("bot.access")

# Telegram's own accounts: 777000 "Telegram" (channel posts forwarded to a linked group),
# 1087968824 "GroupAnonymousBot" (anonymous admins), 136817688 "Channel_Bot" (a channel).
SERVICE_ACCOUNT_IDS = frozenset({777000, 1087968824, 136817688})
REFUSAL_INTERVAL_SECONDS = 24 * 3600.0
MAX_REMEMBERED_REFUSALS = 10_000


class AccessMiddleware(BaseMiddleware):
    """Outer middleware on messages and button taps: the sender's id (not the chat's)
    decides. A stranger's tap is answered with a short alert and does nothing."""

    def __init__(
        self,
        policy: AccessPolicy,
        *,
        refusal_interval: float = REFUSAL_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self._interval = refusal_interval
        self._clock = clock
        self._refused_at: dict[tuple[int, int], float] = {}  # (chat, user) -> when told

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, CallbackQuery):
            return await self._callback(handler, event, data)
        if isinstance(event, Message) and _is_chat_migration(event):
            return await handler(event, data)  # Telegram's own news of the chat: followed
        if not isinstance(event, Message) or event.from_user is None:
            return None  # channel posts: not for this bot
        user_id = event.from_user.id
        if self.policy.allows(user_id):
            return await handler(event, data)
        if event.sender_chat is not None or user_id in SERVICE_ACCOUNT_IDS:
            _log.info("service_account_ignored", user_id=user_id, chat_id=event.chat.id)
            return None  # an anonymous admin or a channel speaking: nobody to answer
        private = event.chat.type == "private"
        # In a group only what is meant for the bot (a command, a recording) is answered: a
        # stranger chatting with the others is none of its business.
        if not (private or _for_the_bot(event)) or not self._due(event.chat.id, user_id):
            _log.info("access_refused_quietly", user_id=user_id, chat_id=event.chat.id)
            return None
        _log.info("access_refused", user_id=user_id, chat_id=event.chat.id)
        # How to let oneself in (the .env, a restart) is for the owner, who finds their id
        # in a private chat; a group hears one line.
        await event.answer(texts.access_closed(user_id) if private else texts.ACCESS_CLOSED_GROUP)
        return None

    async def _callback(self, handler: Handler, query: CallbackQuery, data: dict[str, Any]) -> Any:
        user_id = query.from_user.id
        if self.policy.allows(user_id):
            return await handler(query, data)
        chat_id = query.message.chat.id if query.message is not None else None
        _log.info("access_refused", user_id=user_id, chat_id=chat_id, kind="callback_query")
        try:
            await query.answer(texts.ACCESS_CLOSED_ALERT, show_alert=True)
        except TelegramAPIError as exc:  # too old to answer: nothing was done either way
            _log.info("callback_answer_failed", error=exc.message)
        return None

    def _due(self, chat_id: int, user_id: int) -> bool:
        """Whether a stranger in this chat is told (again) now; notes that they were."""
        now = self._clock()
        last = self._refused_at.get((chat_id, user_id))
        if last is not None and now - last < self._interval:
            return False
        if len(self._refused_at) >= MAX_REMEMBERED_REFUSALS:
            self._refused_at = {
                k: t for k, t in self._refused_at.items() if now - t < self._interval
            }
        self._refused_at[(chat_id, user_id)] = now
        return True


def _for_the_bot(message: Message) -> bool:
    """A command or a recording: what a group member sends the bot, not the group."""
    if message.text is not None and message.text.startswith("/"):
        return True
    return any(m is not None for m in (message.voice, message.audio, message.video_note))


def _is_chat_migration(message: Message) -> bool:
    """A group upgraded to a supergroup, whoever did it: it carries nobody's content, and
    the chat's sessions must follow it to its new id."""
    return message.migrate_to_chat_id is not None or message.migrate_from_chat_id is not None
