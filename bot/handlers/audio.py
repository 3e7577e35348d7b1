"""Voice notes, audio files and round video notes."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from bot import texts
from bot.services.ingest import IncomingAudio, IngestService
from bot.updates.ordering import Ticket


async def take_audio(message: Message, ingest: IngestService, ticket: Ticket | None = None) -> None:
    audio = IncomingAudio.from_message(message)
    if audio is None:  # pragma: no cover - the filter above guarantees one
        return
    refusal = ingest.refusal(audio)
    if refusal is not None:
        if ticket is not None:
            ticket.admit()
        await message.reply(refusal)
        return
    result = await ingest.ingest(message.chat.id, message.message_id, audio, ticket)
    if not result.duplicate:
        await message.reply(texts.acknowledged(result.session), disable_notification=True)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="audio")
    router.message.register(take_audio, F.voice | F.audio | F.video_note)
    return router
