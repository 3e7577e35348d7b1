"""Makes each message handler wait for its turn in its chat (see bot.updates.ordering)."""

from __future__ import annotations

from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from bot.middlewares import Handler
from bot.updates.ordering import ChatOrdering, Ticket


class OrderingMiddleware(BaseMiddleware):
    """Waits on the update's ticket, handed in by the poller as ``ticket``."""

    def __init__(self, ordering: ChatOrdering) -> None:
        self.ordering = ordering

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ticket = data.get("ticket")
        if isinstance(ticket, Ticket):
            await self.ordering.wait_turn(ticket)
        return await handler(event, data)
