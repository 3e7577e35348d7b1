"""Updates: the queue getUpdates long-polls, update ids, the messages tests push and the
webhook methods."""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from collections import deque
from typing import Any

from tests.fake_telegram.api import (
    CONFLICT,
    DEFAULT_TOKEN,
    ApiError,
    Handler,
    Params,
    Upload,
    bad_request,
    bool_param,
    int_param,
    json_param,
    utf16_len,
)
from tests.fake_telegram.files import FilesMixin

_ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
# Telegram's default when allowed_updates is unset or empty: everything but these three.
_DEFAULT_UPDATE_TYPES = _ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
_BOT_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")


def _update_type(update: dict[str, Any]) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class UpdatesMixin(FilesMixin):
    """Owns the update queue: ids, confirmation by offsets, long polls and the webhook."""

    def __init__(self, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        super().__init__(token, **options)
        self.confirmed_offset = 0
        """Highest offset any getUpdates has confirmed (every update_id below it is gone)."""
        self.webhook_deleted = False
        """Whether deleteWebhook has been called."""
        self.webhook: dict[str, Any] = {}
        """The parameters of the latest setWebhook call."""
        self._updates: deque[dict[str, Any]] = deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._ignore_offsets_above: int | None = None

    def _api_methods(self) -> dict[str, Handler]:
        return {
            **super()._api_methods(),
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update for getUpdates and return its update_id.

        A missing ``update_id`` is assigned (one above the last); a given one must be larger
        than every earlier one, as Telegram's are.  A contained message is remembered so the
        bot can reply to, edit or delete it.
        """
        update = copy.deepcopy(update)
        update_id = update.get("update_id")
        if update_id is None:
            update_id = self._last_update_id + 1
        elif not isinstance(update_id, int) or update_id <= self._last_update_id:
            raise ValueError(f"update_id must be an int above {self._last_update_id}")
        self._last_update_id = update_id
        update = {"update_id": update_id, **{k: v for k, v in update.items() if k != "update_id"}}
        for key in ("message", "edited_message"):
            message = update.get(key)
            if isinstance(message, dict) and "chat" in message and "message_id" in message:
                self._remember_message(message)
        self._updates.append(update)
        self._notify()
        return update_id

    def add_message(self, message: dict[str, Any]) -> None:
        """Know a message that reaches the bot another way (a test's webhook post), as
        Telegram knows every message: the bot may then reply to it, edit or react to it."""
        self._remember_message(copy.deepcopy(message))

    def text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        message_id: int | None = None,
        reply_to: int | None = None,
        language_code: str | None = None,
    ) -> int:
        """Push a text message; ``/commands`` in it get ``bot_command`` entities. With
        ``reply_to``, a reply to that message of the chat (as Telegram sends it: the message
        replied to, without its own reply, in ``reply_to_message``)."""
        content: dict[str, Any] = {"text": text}
        if reply_to is not None:
            replied = dict(self._messages[(chat_id, reply_to)])
            replied.pop("reply_to_message", None)
            content["reply_to_message"] = replied
        entities = [
            {
                "type": "bot_command",
                "offset": utf16_len(text[: m.start()]),
                "length": utf16_len(m.group()),
            }
            for m in _BOT_COMMAND_RE.finditer(text)
        ]
        if entities:
            content["entities"] = entities
        sender = {"language_code": language_code}  # None: the default "en"
        return self._push_message(chat_id, user_id, content, chat_type, message_id, sender)

    def voice(
        self,
        chat_id: int,
        user_id: int,
        *,
        file_id: str,
        duration: int,
        file_size: int | None = None,
        mime_type: str = "audio/ogg",
        message_id: int | None = None,
        chat_type: str = "private",
        first_name: str | None = None,
        last_name: str | None = None,
        forward_origin: dict[str, Any] | None = None,
        language_code: str | None = None,
    ) -> int:
        """Push a voice note; size and unique id come from :meth:`add_file` unless given.

        ``first_name``/``last_name`` name the sender (else "User <id>"); ``forward_origin``
        (see :func:`origin_user` and its siblings) makes it a forwarded note.
        """
        voice = {**self._file_meta(file_id, file_size), "duration": duration}
        voice["mime_type"] = mime_type
        content: dict[str, Any] = {"voice": voice}
        if forward_origin is not None:
            content["forward_origin"] = forward_origin
        sender = {"first_name": first_name, "last_name": last_name, "language_code": language_code}
        return self._push_message(chat_id, user_id, content, chat_type, message_id, sender)

    def audio(
        self,
        chat_id: int,
        user_id: int,
        *,
        file_id: str,
        duration: int,
        file_name: str = "recording.mp3",
        mime_type: str = "audio/mpeg",
        file_size: int | None = None,
        title: str | None = None,
        performer: str | None = None,
        message_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """Push an audio file message (``message.audio`` with file_name and mime_type)."""
        audio = {**self._file_meta(file_id, file_size), "duration": duration}
        audio.update(file_name=file_name, mime_type=mime_type)
        if title is not None:
            audio["title"] = title
        if performer is not None:
            audio["performer"] = performer
        return self._push_message(chat_id, user_id, {"audio": audio}, chat_type, message_id)

    def video_note(
        self,
        chat_id: int,
        user_id: int,
        *,
        file_id: str,
        duration: int,
        length: int = 384,
        file_size: int | None = None,
        message_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """Push a round video note (``message.video_note``)."""
        note = {**self._file_meta(file_id, file_size), "duration": duration, "length": length}
        return self._push_message(chat_id, user_id, {"video_note": note}, chat_type, message_id)

    def document(
        self,
        chat_id: int,
        user_id: int,
        *,
        file_id: str,
        file_name: str,
        mime_type: str | None = None,
        file_size: int | None = None,
        caption: str | None = None,
        message_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """Push a document message; mime_type is guessed from file_name unless given."""
        doc = {**self._file_meta(file_id, file_size), "file_name": file_name}
        guessed = mime_type or mimetypes.guess_type(file_name)[0]
        if guessed:
            doc["mime_type"] = guessed
        content: dict[str, Any] = {"document": doc}
        if caption is not None:
            content["caption"] = caption
        return self._push_message(chat_id, user_id, content, chat_type, message_id)

    def photo(
        self,
        chat_id: int,
        user_id: int,
        *,
        file_id: str,
        width: int = 1280,
        height: int = 960,
        file_size: int | None = None,
        caption: str | None = None,
        message_id: int | None = None,
        chat_type: str = "private",
    ) -> int:
        """Push a photo message with a single PhotoSize."""
        size = {**self._file_meta(file_id, file_size), "width": width, "height": height}
        content: dict[str, Any] = {"photo": [size]}
        if caption is not None:
            content["caption"] = caption
        return self._push_message(chat_id, user_id, content, chat_type, message_id)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Copies of the updates not yet confirmed by a getUpdates offset, oldest first."""
        return copy.deepcopy(list(self._updates))

    async def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a getUpdates offset above ``update_id`` has confirmed it."""
        await self._wait_until(
            lambda: True if self.confirmed_offset > update_id else None,
            timeout,
            lambda: f"update {update_id} confirmed (confirmed_offset={self.confirmed_offset})",
        )

    def _push_message(
        self,
        chat_id: int,
        user_id: int,
        content: dict[str, Any],
        chat_type: str,
        message_id: int | None,
        sender: dict[str, str | None] | None = None,
    ) -> int:
        if chat_type not in {"private", "group", "supergroup"}:
            raise ValueError(f"unsupported chat_type {chat_type!r}")
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User {user_id}",
            "language_code": "en",
        }
        user.update({k: v for k, v in (sender or {}).items() if v is not None})
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
        message = {
            "message_id": message_id if message_id is not None else self._next_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }
        return self.push_update({"message": message})

    def _confirm(self, offset: int) -> None:
        """Apply a getUpdates offset: forget confirmed updates, raise confirmed_offset."""
        stale = self._ignore_offsets_above
        if stale is not None and offset > max(stale, self._last_update_id + 1):
            return  # an offset from before reset_update_ids: Telegram forgot it
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            new_offset = offset
        elif offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            new_offset = (
                self._updates[0]["update_id"] if self._updates else self._last_update_id + 1
            )
        else:
            return
        if new_offset > self.confirmed_offset:
            self.confirmed_offset = new_offset
            self._notify()

    async def _get_updates(
        self, params: Params, uploads: dict[str, Upload]
    ) -> list[dict[str, Any]]:
        offset = int_param(params, "offset")
        limit = int_param(params, "limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = max(int_param(params, "timeout") or 0, 0)
        allowed = json_param(params, "allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
                raise bad_request("can't parse allowed_updates JSON array")
            self._allowed_updates = frozenset(allowed) & _ALL_UPDATE_TYPES or _DEFAULT_UPDATE_TYPES
        if offset is not None:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a poll still waiting sees the new generation and answers 409

        def ready() -> list[dict[str, Any]] | None:
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT)
            batch = [u for u in self._updates if _update_type(u) in self._allowed_updates]
            return copy.deepcopy(batch[:limit]) if batch or self._closing else None

        try:
            return await self._wait_until(ready, float(timeout), lambda: "updates", scaled=False)
        except TimeoutError:
            return []

    async def _delete_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
        self.webhook_deleted = True
        if bool_param(params, "drop_pending_updates") and self._updates:
            self._confirm(self._updates[-1]["update_id"] + 1)
        return True

    async def _set_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
        """Record the webhook the bot asked for (this fake never calls it)."""
        self.webhook = dict(params)
        return True

    async def _get_webhook_info(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
