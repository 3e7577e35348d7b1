"""Handling one update, the same way for long polling and for the webhook."""

from __future__ import annotations

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot.services.ordering import ChatOrdering, Ticket

_log = structlog.get_logger("bot.updates")


def ticket_for(ordering: ChatOrdering, update: Update) -> Ticket:
    """The update's place in its chat: commands are exclusive, everything else shared."""
    message = update.message
    chat_id = message.chat.id if message is not None else None
    command = bool(message and message.text and message.text.startswith("/"))
    return ordering.issue(chat_id, update.update_id, exclusive=command)


async def handle_update(
    dispatcher: Dispatcher, bot: Bot, update: Update, ticket: Ticket, ordering: ChatOrdering
) -> None:
    """Feed ``update`` to the handlers. A handler's exception is logged, not raised: the
    update counts as handled, so a bug cannot make Telegram redeliver it forever."""
    try:
        await dispatcher.feed_update(bot, update, ticket=ticket)
    except Exception:
        _log.exception("update_failed", update_id=update.update_id)
    finally:
        ordering.finish(ticket)
