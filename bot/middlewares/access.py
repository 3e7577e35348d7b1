"""Only allowed users get past this; everyone else gets one clear answer and nothing stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from bot import texts
from bot.config import AccessPolicy

_log = structlog.get_logger("bot.access")


class AccessMiddleware(BaseMiddleware):
    """Outer middleware on messages: the sender's id (not the chat's) decides."""

    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message) or event.from_user is None:
            return None  # channel posts and anonymous admins: not for this bot
        user_id = event.from_user.id
        if self.policy.allows(user_id):
            return await handler(event, data)
        _log.info("access_refused", user_id=user_id, chat_id=event.chat.id)
        await event.answer(texts.access_closed(user_id))
        return None
