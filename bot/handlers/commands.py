"""/start, /done, /status and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot import texts
from sessions import SessionManager

RECENT_SESSIONS = 5


async def start(message: Message, manager: SessionManager) -> None:
    # Finalizes the chat's open session, whose transcript the notifier then delivers; an
    # open session with no notes is kept instead (nothing to transcribe or deliver).
    await manager.start_session(message.chat.id)
    await message.answer(texts.START)


async def done(message: Message, manager: SessionManager) -> None:
    session = await manager.get_active_session(message.chat.id)
    if session is None or not session.audio_entries:
        await message.answer(texts.NOTHING_TO_FINISH)
        return
    # The notifier answers with the status message as soon as the session is finalized.
    await manager.finalize_session(session.session_id)


async def status(
    message: Message, manager: SessionManager, processor_label: str | None = None
) -> None:
    active = await manager.get_active_session(message.chat.id)
    recent = await manager.list_sessions(limit=RECENT_SESSIONS + 1, chat_id=message.chat.id)
    recent = [s for s in recent if active is None or s.session_id != active.session_id]
    await message.answer(texts.status(active, recent[:RECENT_SESSIONS], processor_label))


async def help_(message: Message) -> None:
    await message.answer(texts.HELP)


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="commands")
    router.message.register(start, CommandStart())
    router.message.register(done, Command("done"))
    router.message.register(status, Command("status"))
    router.message.register(help_, Command("help"))
    return router
