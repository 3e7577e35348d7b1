"""Anything else (text, photos, stickers...): a short hint."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from bot import texts


async def hint(message: Message) -> None:
    await message.answer(texts.HINT)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="fallback")
    router.message.register(hint)
    return router
