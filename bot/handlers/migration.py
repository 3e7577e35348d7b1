"""A group upgraded to a supergroup: Telegram's service messages in either chat move it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot.services.migration import ChatMigrations


async def chat_migrated(message: Message, migrations: ChatMigrations) -> None:
    """Follow the chat to its new id; said nowhere (the old group takes no messages, and
    the new chat goes on as before: its notes join the session that was open)."""
    if message.migrate_to_chat_id is not None:  # in the old group
        await migrations.follow(message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:  # in the new supergroup
        await migrations.follow(message.migrate_from_chat_id, message.chat.id)


def create_router() -> Router:
    """A new router with this module's handler (a router can join only one parent)."""
    router = Router(name="migration")
    router.message.register(chat_migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    return router
