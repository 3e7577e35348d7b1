"""Sends to a group that became a supergroup go to the supergroup.

Telegram answers anything sent to the old id with 400 and ``migrate_to_chat_id``: the
message is sent again there, once the chat's move has been made (see
:class:`~bot.services.migration.ChatMigrations`), and later sends to the old id go to the
new one at once. Only ``send*`` methods are redirected: an edit, a deletion or a reaction
names a message of the old chat by its id, and the same id in the new chat is another
message, so those are left to fail (they are courtesies, logged by their callers).
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramMigrateToChat
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

from bot.services.migration import ChatMigrations

# What names a message or a thread of the old chat: meaningless in the new one.
_OLD_CHAT_REFERENCES = ("reply_parameters", "reply_to_message_id", "message_thread_id")
_MAX_HOPS = 3  # a supergroup does not move again; a loop must not run for ever


class FollowMigrations(BaseRequestMiddleware):
    """Redirects ``send*`` calls from a chat's old id to its new one."""

    def __init__(self, migrations: ChatMigrations) -> None:
        self._migrations = migrations

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        if not method.__api_method__.startswith("send") or not isinstance(chat_id, int):
            return await make_request(bot, method)
        moved = self._migrations.destination(chat_id)
        if moved is not None:
            method = _to_chat(method, moved)
        for _ in range(_MAX_HOPS):
            try:
                return await make_request(bot, method)
            except TelegramMigrateToChat as exc:
                old = getattr(method, "chat_id", None)
                if not isinstance(old, int):
                    raise
                await self._migrations.follow(old, exc.migrate_to_chat_id)
                method = _to_chat(method, exc.migrate_to_chat_id)
        return await make_request(bot, method)


def _to_chat(method: TelegramMethod[TelegramType], chat_id: int) -> TelegramMethod[TelegramType]:
    update: dict[str, Any] = {"chat_id": chat_id}
    update.update({k: None for k in _OLD_CHAT_REFERENCES if k in type(method).model_fields})
    return method.model_copy(update=update)


__all__ = ["FollowMigrations"]
