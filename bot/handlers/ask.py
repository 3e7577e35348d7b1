"""/ask <question>: an answer from the chat's own notes, with the sessions it came from.

As a reply to one of the bot's transcripts or notes, the question is about that session
only. The model is called in this update's own task: only this chat's next updates wait
for it (in their order), never another chat's.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, tzinfo

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import ask_texts as at
from bot import note_texts as nt
from bot.handlers.library import chat_session
from bot.services.ask import ask_reply
from bot.services.message_index import MessageIndex
from library.index import LibraryError, LibraryRebuildingError
from notes.ask import AskService
from sessions import SessionManager

_log = structlog.get_logger("bot.ask")


async def _scope(
    message: Message, manager: SessionManager, messages: MessageIndex | None
) -> tuple[bool, str | None]:
    """(go on, the session the question is limited to): a reply to one of the bot's
    messages of a session limits it to that session; (False, None) once the chat has been
    told that session is gone."""
    replied = message.reply_to_message
    if replied is None or messages is None:
        return True, None
    session_id = await messages.session_of(message.chat.id, replied.message_id)
    if session_id is None:  # a reply to anything else: the whole library
        return True, None
    if await chat_session(manager, message.chat.id, session_id) is None:
        await message.reply(nt.SESSION_GONE)
        return False, None
    return True, session_id


async def ask(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    bot: Bot,
    ask_service: AskService | None = None,
    messages: MessageIndex | None = None,
    zone: tzinfo = UTC,
) -> None:
    question = (command.args or "").strip()
    if not question:
        await message.answer(at.ASK_USAGE)
        return
    if ask_service is None:
        await message.answer(at.ASK_UNAVAILABLE)
        return
    chat_id = message.chat.id
    go_on, session_id = await _scope(message, manager, messages)
    if not go_on:
        return
    with contextlib.suppress(TelegramAPIError):  # only a hint that an answer is coming
        await bot.send_chat_action(chat_id, "typing")
    try:
        result = await ask_service.ask(chat_id, question, session_id)
    except LibraryRebuildingError:
        await message.answer(at.ASK_REBUILDING)
        return
    except LibraryError:  # locked, I/O, a full disk: the library logged it and retries
        _log.exception("ask_search_failed", chat_id=chat_id)
        await message.answer(at.ASK_UNAVAILABLE)
        return
    except Exception:  # a question is never left without a reply
        _log.exception("ask_failed", chat_id=chat_id)
        await message.answer(at.ASK_UNAVAILABLE)
        return
    reply = ask_reply(result, zone, in_session=session_id is not None)
    await message.answer(
        reply.text, parse_mode="HTML" if reply.html else None, reply_markup=reply.keyboard
    )


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="ask")
    router.message.register(ask, Command("ask"))
    return router
