"""What the fake records and stores, and the forward origins tests put into notes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# -- forward origins (Bot API 7.0+ ``MessageOrigin``), for FakeTelegram.voice(forward_origin=)


def origin_user(user_id: int, first_name: str, last_name: str | None = None) -> dict[str, Any]:
    """A note forwarded from a user whose account can be linked (``MessageOriginUser``)."""
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name is not None:
        user["last_name"] = last_name
    return {"type": "user", "date": int(time.time()) - 60, "sender_user": user}


def origin_hidden_user(name: str) -> dict[str, Any]:
    """A note forwarded from a user who hides their account: a name only."""
    return {"type": "hidden_user", "date": int(time.time()) - 60, "sender_user_name": name}


def origin_chat(chat_id: int, title: str, signature: str | None = None) -> dict[str, Any]:
    """A note forwarded from a group speaking as itself (an anonymous admin's message)."""
    origin: dict[str, Any] = {
        "type": "chat",
        "date": int(time.time()) - 60,
        "sender_chat": {"id": chat_id, "type": "supergroup", "title": title},
    }
    if signature is not None:
        origin["author_signature"] = signature
    return origin


def origin_channel(
    chat_id: int, title: str, message_id: int = 1, signature: str | None = None
) -> dict[str, Any]:
    """A note forwarded from a channel's post (``MessageOriginChannel``)."""
    origin: dict[str, Any] = {
        "type": "channel",
        "date": int(time.time()) - 60,
        "chat": {"id": chat_id, "type": "channel", "title": title},
        "message_id": message_id,
    }
    if signature is not None:
        origin["author_signature"] = signature
    return origin


@dataclass(frozen=True)
class SentCall:
    """One successful call by which the bot changed what a chat shows.

    Recorded for sendMessage, editMessageText, editMessageReplyMarkup, sendDocument,
    sendChatAction, deleteMessage and setMessageReaction,
    only when the call succeeded (failed and fault-injected calls appear in
    :attr:`FakeTelegram.calls` only).  ``text`` is the text as the user sees it: with
    ``parse_mode`` HTML the tags are stripped and entities unescaped; the raw request values
    are in ``params``; an inline keyboard sent with it is in ``reply_markup`` (read it with
    :meth:`buttons`).  ``timestamp`` is :func:`time.monotonic`.
    """

    method: str
    chat_id: int | None
    message_id: int | None
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    document_name: str | None = None
    document_bytes: bytes | None = field(default=None, repr=False)
    document_mime_type: str | None = None
    reply_markup: dict[str, Any] | None = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    timestamp: float = field(default_factory=time.monotonic)

    def buttons(self) -> list[tuple[str, str]]:
        """The inline keyboard's buttons as (text, callback_data), row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass(frozen=True)
class StoredFile:
    """A file the fake can serve: added by the test or uploaded by the bot."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)
