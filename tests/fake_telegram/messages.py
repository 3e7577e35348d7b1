"""Messages: what the bot sends, edits, deletes and reacts with, and the test's queries of it."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from tests.fake_telegram.api import (
    ApiError,
    Handler,
    Params,
    Upload,
    bad_request,
    chat_id_param,
    int_param,
    json_param,
    str_param,
)
from tests.fake_telegram.core import FakeCore
from tests.fake_telegram.markup import render
from tests.fake_telegram.records import SentCall

MAX_MESSAGE_LENGTH = 4096
"""Longest message text (after entity parsing) Telegram accepts."""

# The emoji a bot may react with (ReactionTypeEmoji in the Bot API); any other is refused.
_REACTION_LIST = (
    "👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 "
    "❤\u200d🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 "
    "👨\u200d💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 💘 🙉 🦄 "
    "😘 💊 🙊 😎 👾 🤷\u200d♂ 🤷 🤷\u200d♀ 😡"
)
_REACTION_EMOJI = frozenset(_REACTION_LIST.split())
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of a message"
)


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    """Give a stored message ``markup`` (None: no keyboard), as an edit does."""
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


class MessagesMixin(FakeCore):
    """Owns the bot's chat-changing methods and the queries over :attr:`sent`."""

    def _api_methods(self) -> dict[str, Handler]:
        return {
            **super()._api_methods(),
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "sendChatAction": self._send_chat_action,
            "deleteMessage": self._delete_message,
            "setMessageReaction": self._set_message_reaction,
        }

    async def wait_for(
        self,
        predicate: Callable[[SentCall], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        since: int = 0,
    ) -> SentCall:
        """Return the first call in ``sent[since:]`` matching ``predicate``, waiting for one.

        Calls recorded before the wait began count; pass ``since=len(fake.sent)`` to only
        accept new ones.  Raises :class:`TimeoutError` listing what was sent.
        """

        def find() -> SentCall | None:
            return next((c for c in self.sent[since:] if predicate(c)), None)

        def describe() -> str:
            seen = [(c.method, c.chat_id, c.text or c.document_name) for c in self.sent[since:]]
            return f"a matching sent call; recorded since #{since}: {seen}"

        return await self._wait_until(find, timeout, describe)

    async def wait_called(self, method: str, timeout: float = 5.0, *, since: int = 0) -> float:  # noqa: ASYNC109
        """Wait until ``calls[since:]`` holds ``method`` (any case); return its time."""
        wanted = method.lower()

        def find() -> float | None:
            return next((t for name, t in self.calls[since:] if name.lower() == wanted), None)

        return await self._wait_until(find, timeout, lambda: f"a call to {method}")

    def texts(self, chat_id: int) -> list[str]:
        """Texts of every sendMessage and editMessageText to ``chat_id``, in call order."""
        return [
            c.text
            for c in self.sent
            if c.chat_id == chat_id
            and c.method in {"sendMessage", "editMessageText"}
            and c.text is not None
        ]

    def reactions(self, chat_id: int) -> dict[int, list[str]]:
        """The bot's reaction on each message of ``chat_id`` it reacted to (its newest)."""
        found: dict[int, list[str]] = {}
        for call in self.sent:
            if call.method == "setMessageReaction" and call.chat_id == chat_id:
                assert call.message_id is not None
                found[call.message_id] = (call.text or "").split()
        return found

    async def wait_reactions(self, chat_id: int, count: int, timeout: float = 5.0) -> list[int]:  # noqa: ASYNC109
        """Wait until the bot has reacted to ``count`` messages of ``chat_id`` (or more:
        stored notes, in this project); return their ids in the order first reacted to."""

        def find() -> list[int] | None:
            ids = [m for m, emoji in self.reactions(chat_id).items() if emoji]
            return ids if len(ids) >= count else None

        return await self._wait_until(
            find, timeout, lambda: f"{count} reactions in chat {chat_id}: {self.reactions(chat_id)}"
        )

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Copies of the messages ``chat_id`` shows now (user and bot, after edits/deletes)."""
        found = [m for (chat, _), m in sorted(self._messages.items()) if chat == chat_id]
        return copy.deepcopy(found)

    async def _send_message(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat_id = chat_id_param(params)
        parse_mode = str_param(params, "parse_mode")
        text = render(str_param(params, "text") or "", parse_mode)
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        message = self._bot_message(chat_id, params, {"text": text})
        self._record(
            SentCall(
                method="sendMessage",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=text,
                parse_mode=parse_mode,
                reply_markup=message.get("reply_markup"),
                params=dict(params),
            )
        )
        return message

    async def _edit_message_text(
        self, params: Params, uploads: dict[str, Upload]
    ) -> dict[str, Any] | bool:
        parse_mode = str_param(params, "parse_mode")
        text = render(str_param(params, "text") or "", parse_mode)
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        if params.get("inline_message_id"):
            self._record(
                SentCall("editMessageText", None, None, text, parse_mode=parse_mode, params=params)
            )
            return True
        chat_id = chat_id_param(params)
        message_id = int_param(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise bad_request("message can't be edited")
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        markup = json_param(params, "reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message["text"] == text and message.get("reply_markup") == new_markup:
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        message["edit_date"] = int(time.time())
        _set_markup(message, new_markup)
        self._record(
            SentCall(
                method="editMessageText",
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                parse_mode=parse_mode,
                reply_markup=new_markup,
                params=dict(params),
            )
        )
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(
        self, params: Params, uploads: dict[str, Upload]
    ) -> dict[str, Any]:
        chat_id = chat_id_param(params)
        message_id = int_param(params, "message_id")
        message = None if message_id is None else self._messages.get((chat_id, message_id))
        if message is None:
            raise bad_request("message to edit not found")
        markup = json_param(params, "reply_markup")
        new_markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        if message.get("reply_markup") == new_markup:
            raise ApiError(400, _NOT_MODIFIED)
        _set_markup(message, new_markup)
        self._record(
            SentCall(
                method="editMessageReplyMarkup",
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=new_markup,
                params=dict(params),
            )
        )
        return copy.deepcopy(message)

    async def _send_chat_action(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat_id = chat_id_param(params)
        action = str_param(params, "action")
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._record(SentCall("sendChatAction", chat_id, None, params=dict(params)))
        return True

    async def _delete_message(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat_id = chat_id_param(params)
        message_id = int_param(params, "message_id")
        if message_id is None or self._messages.pop((chat_id, message_id), None) is None:
            raise bad_request("message to delete not found")
        self._record(SentCall("deleteMessage", chat_id, message_id, params=dict(params)))
        return True

    async def _set_message_reaction(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat_id = chat_id_param(params)
        message_id = int_param(params, "message_id")
        message = None if message_id is None else self._messages.get((chat_id, message_id))
        if message is None:
            raise bad_request("message to react not found")
        reaction = json_param(params, "reaction") or []
        if not isinstance(reaction, list):
            raise bad_request("can't parse reaction types JSON object")
        if len(reaction) > 1:  # a bot that is not premium sets at most one
            raise bad_request("REACTIONS_TOO_MANY")
        emoji = []
        for kind in reaction:
            if not isinstance(kind, dict) or kind.get("type") != "emoji":
                raise bad_request("REACTION_INVALID")
            if kind.get("emoji") not in _REACTION_EMOJI:
                raise bad_request("REACTION_INVALID")
            emoji.append(kind["emoji"])
        message["bot_reaction"] = emoji
        self._record(
            SentCall(
                "setMessageReaction",
                chat_id,
                message_id,
                text=" ".join(emoji) or None,
                params=dict(params),
            )
        )
        return True
