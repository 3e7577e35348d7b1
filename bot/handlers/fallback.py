"""Anything else (text, photos, stickers...): a short hint."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from bot import texts

router = Router(name="fallback")


@router.message()
async def hint(message: Message) -> None:
    await message.answer(texts.HINT)
