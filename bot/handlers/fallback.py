"""Anything else (text, photos, stickers...): a short hint; a file that is not a recording:
what is accepted; a button nobody knows: an answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from bot import library_texts, texts


async def hint(message: Message) -> None:
    await message.answer(texts.HINT)


async def not_audio_file(message: Message) -> None:
    # A document that is not a recording (audio ones are taken by the audio router first):
    # said as a reply, so the chat shows which file it was.
    await message.reply(texts.NOT_AUDIO_FILE)


async def stale_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    # A button from an older version of the bot, or data nobody understands: answered
    # (so the client's spinner stops) and nothing done.
    callback_answer.text = library_texts.BUTTON_EXPIRED


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="fallback")
    router.message.register(not_audio_file, F.document)
    router.message.register(hint)
    router.callback_query.register(stale_button)
    return router
