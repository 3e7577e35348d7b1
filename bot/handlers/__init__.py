"""One router per module, joined here in the order they must match."""

from __future__ import annotations

from aiogram import Router

from bot.handlers import (
    ask,
    audio,
    chat_settings,
    commands,
    fallback,
    library,
    migration,
    notes,
    speakers,
)


def build_router() -> Router:
    """The bot's routers; the fallback comes last so it only sees what nobody else took."""
    root = Router(name="root")
    root.include_routers(
        migration.create_router(),
        commands.create_router(),
        library.create_router(),
        ask.create_router(),
        chat_settings.create_router(),
        speakers.create_router(),
        notes.create_router(),
        audio.create_router(),
        fallback.create_router(),
    )
    return root
