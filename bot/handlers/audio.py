"""Voice notes, audio files, round video notes, and recordings sent as a file."""

from __future__ import annotations

import structlog
from aiogram import F, Router
from aiogram.types import Message

from bot import texts
from bot.services.collecting import CollectingStatus
from bot.services.ingest import IncomingAudio, IngestService, NoteNotSaved
from bot.updates.ordering import Ticket

_log = structlog.get_logger("bot.handlers.audio")


async def take_audio(
    message: Message,
    ingest: IngestService,
    collecting: CollectingStatus,
    ticket: Ticket | None = None,
) -> None:
    """Store the note and acknowledge it (a reaction, and the session's collecting message
    brought up to date), or reply to it saying why it was not stored."""
    audio = IncomingAudio.from_message(message)
    if audio is None:  # pragma: no cover - the filter above guarantees one
        return
    refusal = ingest.refusal(audio)
    if refusal is not None:
        if ticket is not None:
            ticket.admit()
        await message.reply(refusal)
        return
    try:
        result = await ingest.ingest(message.chat.id, message.message_id, audio, ticket)
    except NoteNotSaved as exc:
        _log.warning(
            "note_not_saved",
            chat_id=message.chat.id,
            message_id=message.message_id,
            reason=exc.code,
            error=repr(exc.__cause__) if exc.__cause__ is not None else None,
        )
        await message.reply(exc.reply)
        return
    except Exception:
        # A bug or a state nobody planned for: the note is not stored, so the user hears
        # of it instead of it vanishing (the update still counts as handled).
        _log.exception(
            "note_not_saved",
            chat_id=message.chat.id,
            message_id=message.message_id,
            reason="unexpected",
        )
        await message.reply(texts.NOT_SAVED_UNEXPECTED)
        return
    if not result.duplicate:
        await collecting.note_stored(message.chat.id, message.message_id, result.session)


def _audio_file(message: Message) -> bool:
    """A document that is a recording (by its MIME type or its name); others go on."""
    return message.document is not None and IncomingAudio.from_message(message) is not None


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="audio")
    router.message.register(take_audio, F.voice | F.audio | F.video_note | F.func(_audio_file))
    return router
