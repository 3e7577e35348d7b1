"""A question asked with buttons is answered once.

The bot asks with buttons (/forget's and /cancel's Yes or No, /forget all's, the menus of
/lang and /style), and the answer replaces the question: its handler edits the message to
the result, without the buttons. A tap that comes after that anyway (a second tap in the
same second, sent before the client saw the edit, or a button the message no longer shows)
does nothing and is answered with a quiet toast: a second "Yes, delete everything" must not
replace "Forgotten: 4 sessions" with "Forgotten: 0 sessions".
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, InaccessibleMessage, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer

from bot import texts
from bot.middlewares import Handler

_log = structlog.get_logger("bot.questions")

# The callback data prefixes of buttons that answer a question (see bot.callbacks).
QUESTION_PREFIXES = frozenset({"forget", "forgetall", "cancel", "lang", "style"})
MAX_REMEMBERED_ANSWERS = 10_000


class OneAnswerPerQuestion(BaseMiddleware):
    """Inner middleware on button taps, inside the chat's turn (after the ordering): a
    question's first answer runs its handler; any later tap on it gets "Already done."

    A question counts as answered once its handler returned without an alert: a failure
    (an exception) or an alert (something the user must read, e.g. the settings could not
    be written, and the menu stays) leaves it open, so a later tap may still work. The
    answers are remembered in this process (the newest ``limit``); a tap on a message
    that no longer shows the tapped button is known without them.
    """

    def __init__(self, limit: int = MAX_REMEMBERED_ANSWERS) -> None:
        self._limit = limit
        self._answered: OrderedDict[tuple[int, int], None] = OrderedDict()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, CallbackQuery) or not _is_question(event.data):
            return await handler(event, data)
        message = event.message
        if message is None:
            return await handler(event, data)
        key = (message.chat.id, message.message_id)
        answer: CallbackAnswer = data["callback_answer"]
        if key in self._answered or not _shows(event, message):
            _log.info("question_answered_already", chat_id=key[0], data=event.data)
            answer.text, answer.show_alert = texts.ALREADY_DONE, False
            return None
        result = await handler(event, data)
        if not answer.show_alert:
            self._remember(key)
        return result

    def _remember(self, key: tuple[int, int]) -> None:
        self._answered[key] = None
        self._answered.move_to_end(key)
        while len(self._answered) > self._limit:
            self._answered.popitem(last=False)


def _is_question(data: str | None) -> bool:
    return data is not None and data.split(":", 1)[0] in QUESTION_PREFIXES


def _shows(query: CallbackQuery, message: Message | InaccessibleMessage) -> bool:
    """Whether the message, as Telegram sent it with the tap, still has the tapped button
    (a message Telegram no longer shows the bot counts as showing it: nothing to tell)."""
    if isinstance(message, InaccessibleMessage):
        return True
    markup = message.reply_markup
    rows = markup.inline_keyboard if markup is not None else []
    return any(button.callback_data == query.data for row in rows for button in row)
