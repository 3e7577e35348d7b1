"""A local fake of the Telegram Bot API for end-to-end tests.

:class:`FakeTelegram` is an ``aiohttp.web`` server that answers the way
``api.telegram.org`` does, so the real bot (aiogram 3) can run against it as a subprocess with
``TELEGRAM_API_URL=http://127.0.0.1:PORT``.  It serves

* ``{base}/bot{token}/{method}`` for Bot API methods (GET or POST; JSON, urlencoded or
  multipart bodies; method names are case-insensitive), and
* ``{base}/file/bot{token}/{file_path}`` for file downloads,

which is exactly what ``TelegramAPIServer.from_base(base_url)`` produces.

The test drives it through plain methods on the instance: put files in with
:meth:`FakeTelegram.add_file`, queue updates with :meth:`FakeTelegram.voice`,
:meth:`FakeTelegram.text` and friends, inspect what the bot sent in :attr:`FakeTelegram.sent`,
wait with :meth:`FakeTelegram.wait_for`, and inject faults with :meth:`FakeTelegram.fail_next`
(Telegram's error answers, or a proxy's HTML page with ``html=True``), :meth:`FakeTelegram.hang`
(no answer until :meth:`FakeTelegram.release`), :meth:`FakeTelegram.delay_file` and
:meth:`FakeTelegram.reset_update_ids` (ids numbered afresh, lower).
All state lives on the instance; the test-side API must be called from the event loop thread the
server runs on.

Run standalone (``python tests/fake_telegram.py --port 8081``) it prints its base URL and serves
until SIGINT/SIGTERM; a small JSON control API under ``/_fake/`` then stands in for the test-side
methods (see :meth:`FakeTelegram._control_routes`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import html
import json
import mimetypes
import re
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

DEFAULT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz01234"
"""The token :class:`FakeTelegram` accepts unless another one is given."""

MAX_MESSAGE_LENGTH = 4096
"""Longest message text (after entity parsing) Telegram accepts."""

MAX_CAPTION_LENGTH = 1024
"""Longest media caption (after entity parsing) Telegram accepts."""

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""Largest file the public Bot API lets a bot download (getFile answers "file is too big")."""

FILE_METHOD = "file"
"""Pseudo method name that :meth:`FakeTelegram.fail_next` uses for file downloads."""

_T = TypeVar("_T")
_Params = dict[str, Any]
_Handler = Callable[[_Params, "dict[str, _Upload]"], Awaitable[Any]]

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
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_MD_LINK_RE = re.compile(r"\[([^\[\]]*)\]\(([^()]*)\)")
_BOT_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: _CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of a message"
)


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


@dataclass(frozen=True)
class _Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class _Fault:
    """An error answer queued by :meth:`FakeTelegram.fail_next`."""

    status: int
    retry_after: int | None
    description: str | None
    html: bool = False


HANG_ALL = "*"
"""Method name for :meth:`FakeTelegram.hang` that matches every call and download."""

_PROXY_PAGE = (
    "<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} "
    "{phrase}</h1></center><hr><center>nginx</center></body></html>"
)


class _HtmlAnswer(Exception):
    """Raised by a fault: the answer is an HTML page, as a reverse proxy gives."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status

    def response(self) -> web.Response:
        phrase = HTTPStatus(self.status).phrase
        page = _PROXY_PAGE.format(status=self.status, phrase=phrase)
        return web.Response(status=self.status, text=page, content_type="text/html")


class _ApiError(Exception):
    """Raised by handlers; becomes a Telegram-style ``{"ok": false, ...}`` answer."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        """The JSON answer Telegram gives for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


def _int_param(params: _Params, name: str) -> int | None:
    """``params[name]`` as an int (forms carry strings, JSON carries numbers), or None."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise _bad_request(f"invalid {name} specified") from None


def _str_param(params: _Params, name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


def _bool_param(params: _Params, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return bool(value)


def _json_param(params: _Params, name: str) -> Any:
    """``params[name]`` decoded from JSON when it came as a string (as forms send it)."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _bad_request(f"can't parse {name} JSON object") from None


def _chat_id_param(params: _Params) -> int:
    raw = params.get("chat_id")
    if raw is None or raw == "":
        raise _bad_request("chat_id is empty")
    try:
        return _int_param(params, "chat_id") or 0
    except _ApiError:
        raise _bad_request("chat not found") from None


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entity_error(detail: str) -> _ApiError:
    return _bad_request(f"can't parse entities: {detail}")


def _render_html(text: str) -> str:
    """Plain text of an HTML-formatted message; raises like Telegram on malformed markup."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    while (lt := text.find("<", pos)) != -1:
        out.append(text[pos:lt])
        offset = _byte_offset(text, lt)
        match = _HTML_TAG_RE.match(text, lt)
        if match is None:
            raise _entity_error(f"Unexpected end of name token at byte offset {offset}")
        closing, name = match.group(1) == "/", match.group(2).lower()
        if name not in _HTML_TAGS:
            raise _entity_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        if closing:
            if not stack:
                raise _entity_error(f'Unexpected end tag "{name}" at byte offset {offset}')
            if stack[-1] != name:
                raise _entity_error(
                    f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
        else:
            stack.append(name)
        pos = match.end()
    out.append(text[pos:])
    if stack:
        raise _entity_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(out))


def _render_markdown_v2(text: str) -> str:
    """Approximate plain text of a MarkdownV2 message.

    Enforces Telegram's most common rejection (reserved characters must be escaped), drops
    the formatting characters ``*_~|``` `` and turns ``[text](url)`` into ``text``.  Balance of
    formatting marks is not checked.
    """
    out: list[str] = []
    i = 0
    at_line_start = True
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == "[" and (link := _MD_LINK_RE.match(text, i)):
            out.append(_render_markdown_v2(link.group(1)))
            i = link.end()
        elif ch in "*_~|`" or (ch == ">" and at_line_start):  # formatting / blockquote
            i += 1
        elif ch in "[]()>#+-={}.!":
            raise _entity_error(
                f"Character '{ch}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.append(ch)
            i += 1
        at_line_start = ch == "\n"
    return "".join(out)


def _render(text: str, parse_mode: str | None) -> str:
    """What the user sees for ``text`` sent with ``parse_mode``."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _render_html(text)
    if mode == "markdownv2":
        return _render_markdown_v2(text)
    if mode in {"", "markdown"}:
        return text
    raise _bad_request(f"unsupported parse_mode {parse_mode!r}")


def _set_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
    """Give a stored message ``markup`` (None: no keyboard), as an edit does."""
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _update_type(update: dict[str, Any]) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class FakeTelegram:
    """A fake Telegram Bot API server holding all of its state on the instance.

    Promises:

    * Only ``token`` is accepted; any other token gets 401 ``Unauthorized``.
    * Unknown methods get 404 ``Not Found: method not found``; method names are matched
      case-insensitively and recorded in :attr:`calls` under their canonical spelling.
    * ``getUpdates`` behaves like Telegram's long polling: an ``offset`` confirms (drops) every
      update with a smaller ``update_id``; with no deliverable updates it waits up to
      ``timeout`` seconds and returns as soon as one is pushed; a newer ``getUpdates``
      terminates a waiting one with 409 Conflict.
    * Message ids grow per chat, shared by user and bot messages, as in private chats.
    * Messages are validated like Telegram does for the common failures: empty or too long
      text, malformed HTML/MarkdownV2, editing to identical content, unknown message ids.
    * A group upgraded with :meth:`migrate_chat` refuses every later call naming its old id
      with 400 and ``parameters.migrate_to_chat_id``, as Telegram does.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "fake_test_bot",
        bot_first_name: str = "Fake Bot",
        max_download_size: int = MAX_DOWNLOAD_SIZE,
        timeout_scale: float = 1.0,
    ) -> None:
        """Create a stopped server; nothing listens until :meth:`start`."""
        self.token = token
        bot_id, _, _ = token.partition(":")
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.max_download_size = max_download_size
        self.timeout_scale = timeout_scale
        """Every ``timeout`` of the test-side waits is multiplied by this: they are upper
        bounds, and a busy machine must not turn a slow answer into a failure."""

        self.sent: list[SentCall] = []
        """Successful chat-changing calls by the bot, in order (see :class:`SentCall`)."""
        self.calls: list[tuple[str, float]] = []
        """Every authorised API method call as (method name, :func:`time.monotonic`)."""
        self.downloads: list[tuple[str, float]] = []
        """Every authorised file download attempt as (file_path, :func:`time.monotonic`)."""
        self.commands: list[dict[str, str]] = []
        """The command list from the latest successful setMyCommands."""
        self.description: str | None = None
        """The text of the latest successful setMyDescription (None: never set)."""
        self.short_description: str | None = None
        """The text of the latest successful setMyShortDescription (None: never set)."""
        self.by_language: dict[str, dict[str, Any]] = {}
        """What those three calls set for one ``language_code``: by language, then by field
        ("commands", "description", "short_description"); the fields above are the default."""
        self.confirmed_offset = 0
        """Highest offset any getUpdates has confirmed (every update_id below it is gone)."""
        self.webhook_deleted = False
        """Whether deleteWebhook has been called."""
        self.webhook: dict[str, Any] = {}
        """The parameters of the latest setWebhook call."""
        self.callback_answers: dict[str, dict[str, Any]] = {}
        """answerCallbackQuery calls by callback query id: ``text`` and ``show_alert``."""

        self._updates: deque[dict[str, Any]] = deque()
        self._last_update_id = 0
        self._allowed_updates: frozenset[str] = _DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._last_message_id: dict[int, int] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._file_delay = 0.0
        self._callback_count = 0
        self._omit_file_sizes = False
        self._hangs: dict[str, int | None] = {}  # method -> calls left to hang (None: all)
        self._migrated: dict[int, int] = {}  # group id -> the supergroup it became
        self._released = asyncio.Event()
        self._ignore_offsets_above: int | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setMyDescription": self._set_my_description,
                "getMyDescription": self._get_my_description,
                "setMyShortDescription": self._set_my_short_description,
                "getMyShortDescription": self._get_my_short_description,
                "getFile": self._get_file,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "sendDocument": self._send_document,
                "sendChatAction": self._send_chat_action,
                "deleteMessage": self._delete_message,
                "setMessageReaction": self._set_message_reaction,
                "setWebhook": self._set_webhook,
                "answerCallbackQuery": self._answer_callback_query,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "close": self._return_true,
                "logOut": self._return_true,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start listening on ``host:port`` (0 picks a free port) and set :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        self._control_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        self._closing = False
        self._runner = runner
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._base_url = f"http://{url_host}:{bound_port}"

    async def stop(self) -> None:
        """Stop serving: waiting long polls return at once, then the socket closes.

        Safe to call twice; the recorded state stays readable afterwards.
        """
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        self.release()
        self._notify()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        """Start on a free port of 127.0.0.1 unless already started."""
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server, for ``TelegramAPIServer.from_base``."""
        if self._base_url is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._base_url

    # ------------------------------------------------------------------ test-side API: files

    def add_file(
        self,
        data: bytes,
        *,
        file_unique_id: str | None = None,
        file_path: str | None = None,
    ) -> str:
        """Store ``data`` for getFile/download and return its new file_id.

        ``file_path`` defaults to ``voice/file_N.oga`` as Telegram names voice notes.
        """
        n = len(self._files) + 1
        file_id = f"AwACAgIAAxkBAAI{n:06d}FakeFileId"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=file_unique_id or f"AgAD{n:06d}",
            file_path=file_path or f"voice/file_{n}.oga",
            data=bytes(data),
        )
        self._files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return file_id

    def get_stored_file(self, file_id: str) -> StoredFile:
        """The stored file behind ``file_id`` (added by the test or uploaded by the bot)."""
        return self._files[file_id]

    # ------------------------------------------------------------------ test-side API: updates

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
                "offset": _utf16_len(text[: m.start()]),
                "length": _utf16_len(m.group()),
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

    def callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_type: str = "private",
        language_code: str | None = None,
    ) -> str:
        """Push a tap on an inline button of the bot's message ``message_id``; returns the
        callback query's id (see :meth:`wait_answered`)."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        self._callback_count += 1
        query_id = f"cb{self._callback_count}"
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if language_code is not None:
            user["language_code"] = language_code
        if chat_type != "private":
            message = {**message, "chat": {**message["chat"], "type": chat_type}}
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self.push_update({"callback_query": query})
        return query_id

    async def wait_answered(self, query_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the bot answered callback query ``query_id``; its answer's parameters."""
        return await self._wait_until(
            lambda: self.callback_answers.get(query_id),
            timeout,
            lambda: f"answerCallbackQuery for {query_id}",
        )

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

    # ------------------------------------------------------------------ test-side API: output

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

    # ------------------------------------------------------------------ test-side API: faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        retry_after: int | None = None,
        count: int = 1,
        description: str | None = None,
        html: bool = False,
    ) -> None:
        """Make the next ``count`` calls to ``method`` (or downloads, for "file") fail.

        The answer is Telegram's: 429 gives ``Too Many Requests: retry after N`` with
        ``parameters.retry_after`` (N defaults to 1); other statuses give their usual
        description (502 ``Bad Gateway``).  With ``html`` the answer is instead an nginx
        style HTML page with that status, as a proxy in front of the Bot API gives (``status``
        may then be 200 too).  Faults queue up behind earlier ones.
        """
        if status < 400 and not (html and status == HTTPStatus.OK):
            raise ValueError("status must be an HTTP error status (>= 400)")
        if count < 1:
            raise ValueError("count must be at least 1")
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        fault = _Fault(status=status, retry_after=retry_after, description=description, html=html)
        self._faults.setdefault(method.lower(), deque()).extend([fault] * count)

    def hang(self, method: str, *, count: int | None = None) -> None:
        """Make the next ``count`` calls to ``method`` (every one, when None) never answer
        until :meth:`release` or :meth:`stop`: a server that accepted the connection and
        went silent. ``"file"`` hangs downloads, ``"*"`` every call and download. The call
        is recorded in :attr:`calls` (or :attr:`downloads`) before it hangs."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        self._hangs[method.lower()] = count

    def release(self) -> None:
        """Stop hanging: every call held by :meth:`hang` goes on, and later ones answer."""
        self._hangs.clear()
        self._released.set()
        self._released = asyncio.Event()

    def reset_update_ids(self, next_id: int) -> None:
        """Number later updates from ``next_id`` on, even below earlier ones, as Telegram
        does after a week without updates (or as a new token's updates do). Telegram then
        no longer knows the old offsets: a ``getUpdates`` offset above every id issued since
        confirms nothing."""
        if next_id < 1:
            raise ValueError("next_id must be positive")
        self._last_update_id = next_id - 1
        self._ignore_offsets_above = next_id
        self.confirmed_offset = next_id

    def delay_file(self, seconds: float) -> None:
        """Make every later download send half the file, pause ``seconds``, then the rest."""
        self._file_delay = max(0.0, seconds)

    def omit_file_sizes(self, omit: bool = True) -> None:
        """Leave ``file_size`` out of later updates' files and getFile answers, as Telegram
        may; a file over :attr:`max_download_size` still gets "file is too big"."""
        self._omit_file_sizes = omit

    def migrate_chat(
        self, old_chat_id: int, new_chat_id: int, *, user_id: int | None = None
    ) -> list[int]:
        """Upgrade group ``old_chat_id`` to supergroup ``new_chat_id``, as Telegram does:
        every later call naming the old id (sending, editing, reacting) is answered 400
        ``Bad Request: group chat was upgraded to a supergroup chat`` with
        ``parameters.migrate_to_chat_id``. With ``user_id`` (who upgraded it) the two service
        messages are pushed as well, ``migrate_to_chat_id`` in the old group, then
        ``migrate_from_chat_id`` in the new supergroup; returns their update ids."""
        self._migrated[old_chat_id] = new_chat_id
        if user_id is None:
            return []
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        title = f"Test group {old_chat_id}"
        old_chat = {"id": old_chat_id, "type": "group", "title": title}
        new_chat = {"id": new_chat_id, "type": "supergroup", "title": title}
        pushed = []
        for chat, key, value in (
            (old_chat, "migrate_to_chat_id", new_chat_id),
            (new_chat, "migrate_from_chat_id", old_chat_id),
        ):
            message = {
                "message_id": self._next_message_id(chat["id"]),
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                key: value,
            }
            pushed.append(self.push_update({"message": message}))
        return pushed

    # ------------------------------------------------------------------ HTTP plumbing

    def _refuse_migrated(self, params: _Params) -> None:
        chat_id = None
        with contextlib.suppress(_ApiError):  # a malformed id is the method's to refuse
            chat_id = _int_param(params, "chat_id")
        if chat_id is not None and chat_id in self._migrated:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/bot{token}/{method}``: auth, routing, faults, then the handler."""
        if request.match_info["token"] != self.token:
            return _ApiError(401, "Unauthorized").response()
        requested = request.match_info["method"]
        name, handler = self._handlers.get(requested.lower(), (requested, None))
        self.calls.append((name, time.monotonic()))
        self._notify()
        try:
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            await self._maybe_hang(name)
            self._raise_fault(name)
            params, uploads = await self._read_request(request)
            self._refuse_migrated(params)
            result = await handler(params, uploads)
        except (_ApiError, _HtmlAnswer) as error:
            return error.response()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/file/bot{token}/{file_path}`` like Telegram's file server."""
        if request.match_info["token"] != self.token:
            return _ApiError(401, "Unauthorized").response()
        file_path = request.match_info["file_path"]
        self.downloads.append((file_path, time.monotonic()))
        self._notify()
        try:
            await self._maybe_hang(FILE_METHOD)
            self._raise_fault(FILE_METHOD)
        except (_ApiError, _HtmlAnswer) as error:
            return error.response()
        stored = self._files_by_path.get(file_path)
        if stored is None:
            return _ApiError(404, "Not Found").response()
        if self._file_delay <= 0:
            return web.Response(body=stored.data, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(stored.data)
        await response.prepare(request)
        half = len(stored.data) // 2
        await response.write(stored.data[:half])
        await asyncio.sleep(self._file_delay)
        await response.write(stored.data[half:])
        await response.write_eof()
        return response

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        """Anything else: Telegram's JSON 404."""
        return _ApiError(404, "Not Found").response()

    async def _read_request(self, request: web.Request) -> tuple[_Params, dict[str, _Upload]]:
        """Merge query string and body (JSON, urlencoded or multipart) into params + files."""
        params: _Params = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if not request.can_read_body:
            return params, uploads
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad_request("JSON object expected")
            params.update(body)
        elif request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = _Upload(value.filename, value.content_type, value.file.read())
                elif isinstance(value, bytes | bytearray):
                    params[key] = bytes(value).decode()
                else:
                    params[key] = value
        return params, uploads

    def _raise_fault(self, method: str) -> None:
        """Raise the next queued fault for ``method``, if any."""
        queue = self._faults.get(method.lower())
        if not queue:
            return
        fault = queue.popleft()
        if fault.html:
            raise _HtmlAnswer(fault.status)
        parameters = None
        if fault.status == HTTPStatus.TOO_MANY_REQUESTS:
            description = f"Too Many Requests: retry after {fault.retry_after}"
        else:
            description = _DESCRIPTIONS.get(fault.status) or HTTPStatus(fault.status).phrase
        if fault.retry_after is not None:
            parameters = {"retry_after": fault.retry_after}
        raise _ApiError(fault.status, fault.description or description, parameters)

    async def _maybe_hang(self, method: str) -> None:
        """Hold the request while :meth:`hang` says so (until released or stopped)."""
        key = method.lower() if method.lower() in self._hangs else HANG_ALL
        if key not in self._hangs or self._closing:
            return
        left = self._hangs[key]
        if left is not None:
            if left <= 1:
                del self._hangs[key]
            else:
                self._hangs[key] = left - 1
        await self._released.wait()

    # ------------------------------------------------------------------ state helpers

    def _notify(self) -> None:
        """Wake every waiter; they re-check their condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(
        self,
        find: Callable[[], _T | None],
        timeout: float,  # noqa: ASYNC109
        describe: Callable[[], str],
        *,
        scaled: bool = True,
    ) -> _T:
        """Return ``find()`` once it is not None, woken by state changes, or time out.

        A test's wait is ``scaled`` by :attr:`timeout_scale`; the server's own (a long poll)
        is not: it is part of the behaviour under test."""
        loop = asyncio.get_running_loop()
        if scaled:
            timeout *= self.timeout_scale
        deadline = loop.time() + timeout
        while (found := find()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {describe()}")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return found

    def _file_meta(self, file_id: str, file_size: int | None) -> dict[str, Any]:
        stored = self._files.get(file_id)
        meta: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id if stored else f"U-{file_id[-16:]}",
        }
        size = file_size if file_size is not None else (len(stored.data) if stored else None)
        if size is not None and not self._omit_file_sizes:
            meta["file_size"] = size
        return meta

    def _next_message_id(self, chat_id: int) -> int:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _remember_message(self, message: dict[str, Any]) -> None:
        chat = message["chat"]
        chat_id, message_id = int(chat["id"]), int(message["message_id"])
        self._chats.setdefault(chat_id, chat)
        self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)
        self._messages[(chat_id, message_id)] = message

    def _chat(self, chat_id: int) -> dict[str, Any]:
        """The chat object for ``chat_id``, as seen in updates or a plausible default."""
        known = self._chats.get(chat_id)
        if known is not None:
            return dict(known)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}

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

    def _bot_message(
        self, chat_id: int, params: _Params, content: dict[str, Any]
    ) -> dict[str, Any]:
        """Build, store and return a new message from the bot in ``chat_id``."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        reply = _json_param(params, "reply_parameters")
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        reply_to = reply_to or _int_param(params, "reply_to_message_id")
        if reply_to is not None and (chat_id, int(reply_to)) in self._messages:
            replied = dict(self._messages[(chat_id, int(reply_to))])
            replied.pop("reply_to_message", None)
            message["reply_to_message"] = replied
        markup = _json_param(params, "reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _record(self, call: SentCall) -> None:
        self.sent.append(call)
        self._notify()

    # ------------------------------------------------------------------ Bot API methods

    async def _return_true(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        return True

    async def _get_me(self, params: _Params, uploads: dict[str, _Upload]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> list[dict[str, Any]]:
        offset = _int_param(params, "offset")
        limit = _int_param(params, "limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = max(_int_param(params, "timeout") or 0, 0)
        allowed = _json_param(params, "allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
                raise _bad_request("can't parse allowed_updates JSON array")
            self._allowed_updates = frozenset(allowed) & _ALL_UPDATE_TYPES or _DEFAULT_UPDATE_TYPES
        if offset is not None:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a poll still waiting sees the new generation and answers 409

        def ready() -> list[dict[str, Any]] | None:
            if generation != self._poll_generation:
                raise _ApiError(409, _CONFLICT)
            batch = [u for u in self._updates if _update_type(u) in self._allowed_updates]
            return copy.deepcopy(batch[:limit]) if batch or self._closing else None

        try:
            return await self._wait_until(ready, float(timeout), lambda: "updates", scaled=False)
        except TimeoutError:
            return []

    async def _delete_webhook(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        self.webhook_deleted = True
        if _bool_param(params, "drop_pending_updates") and self._updates:
            self._confirm(self._updates[-1]["update_id"] + 1)
        return True

    async def _set_webhook(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        """Record the webhook the bot asked for (this fake never calls it)."""
        self.webhook = dict(params)
        return True

    async def _get_webhook_info(
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> dict[str, Any]:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _set_my_commands(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        commands = _json_param(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON array")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand")
            if not _COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        listed = [
            {"command": str(c["command"]), "description": str(c["description"])} for c in commands
        ]
        self._set_for_language(params, "commands", listed)
        return True

    def _set_for_language(self, params: _Params, field: str, value: Any) -> None:
        language = _str_param(params, "language_code")
        if language:
            self.by_language.setdefault(language, {})[field] = value
        else:
            setattr(self, field, value)

    async def _get_my_commands(
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> list[dict[str, str]]:
        return copy.deepcopy(self.commands)

    async def _delete_my_commands(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        self.commands = []
        return True

    async def _set_my_description(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        text = _str_param(params, "description") or ""
        if len(text) > 512:  # Telegram's limit; an empty text removes the description
            raise _bad_request("BOT_DESCRIPTION_INVALID")
        self._set_for_language(params, "description", text)
        return True

    async def _get_my_description(
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> dict[str, str]:
        return {"description": self.description or ""}

    async def _set_my_short_description(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        text = _str_param(params, "short_description") or ""
        if len(text) > 120:  # Telegram's limit
            raise _bad_request("BOT_SHORT_DESCRIPTION_INVALID")
        self._set_for_language(params, "short_description", text)
        return True

    async def _get_my_short_description(
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> dict[str, str]:
        return {"short_description": self.short_description or ""}

    async def _get_file(self, params: _Params, uploads: dict[str, _Upload]) -> dict[str, Any]:
        stored = self._files.get(_str_param(params, "file_id") or "")
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.data) > self.max_download_size:
            raise _bad_request("file is too big")
        answer: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
        if self._omit_file_sizes:
            del answer["file_size"]
        return answer

    async def _send_message(self, params: _Params, uploads: dict[str, _Upload]) -> dict[str, Any]:
        chat_id = _chat_id_param(params)
        parse_mode = _str_param(params, "parse_mode")
        text = _render(_str_param(params, "text") or "", parse_mode)
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
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
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> dict[str, Any] | bool:
        parse_mode = _str_param(params, "parse_mode")
        text = _render(_str_param(params, "text") or "", parse_mode)
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        if params.get("inline_message_id"):
            self._record(
                SentCall("editMessageText", None, None, text, parse_mode=parse_mode, params=params)
            )
            return True
        chat_id = _chat_id_param(params)
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        markup = _json_param(params, "reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if message["text"] == text and message.get("reply_markup") == new_markup:
            raise _ApiError(400, _NOT_MODIFIED)
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
        self, params: _Params, uploads: dict[str, _Upload]
    ) -> dict[str, Any]:
        chat_id = _chat_id_param(params)
        message_id = _int_param(params, "message_id")
        message = None if message_id is None else self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request("message to edit not found")
        markup = _json_param(params, "reply_markup")
        new_markup = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        if message.get("reply_markup") == new_markup:
            raise _ApiError(400, _NOT_MODIFIED)
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

    async def _answer_callback_query(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        query_id = _str_param(params, "callback_query_id")
        if not query_id:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers[query_id] = {
            "text": _str_param(params, "text"),
            "show_alert": _bool_param(params, "show_alert"),
        }
        self._notify()
        return True

    async def _send_document(self, params: _Params, uploads: dict[str, _Upload]) -> dict[str, Any]:
        chat_id = _chat_id_param(params)
        stored, name, mime = self._resolve_document(params.get("document"), uploads)
        parse_mode = _str_param(params, "parse_mode")
        raw_caption = _str_param(params, "caption")
        caption = None if raw_caption is None else _render(raw_caption, parse_mode)
        if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": name,
            "mime_type": mime,
            "file_size": len(stored.data),
        }
        content: dict[str, Any] = {"document": document}
        if caption:
            content["caption"] = caption
        message = self._bot_message(chat_id, params, content)
        self._record(
            SentCall(
                method="sendDocument",
                chat_id=chat_id,
                message_id=message["message_id"],
                caption=caption,
                parse_mode=parse_mode,
                document_name=name,
                document_bytes=stored.data,
                document_mime_type=mime,
                params={k: v for k, v in params.items() if k != "document"},
            )
        )
        return message

    def _resolve_document(
        self, value: Any, uploads: dict[str, _Upload]
    ) -> tuple[StoredFile, str, str]:
        """The file behind a sendDocument ``document``: an upload or an existing file_id."""
        upload: _Upload | None = None
        if value is None and "document" in uploads:
            upload = uploads["document"]
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            raise _bad_request("failed to get HTTP URL content")
        elif isinstance(value, str) and value in self._files:
            stored = self._files[value]
            name = stored.file_path.rsplit("/", 1)[-1]
            return stored, name, mimetypes.guess_type(name)[0] or "application/octet-stream"
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        if not upload.data:
            raise _bad_request("file must be non-empty")
        name = upload.filename or "document"
        mime = mimetypes.guess_type(name)[0] or upload.content_type or "application/octet-stream"
        file_id = self.add_file(
            upload.data, file_path=f"documents/file_{len(self._files) + 1}_{name}"
        )
        return self._files[file_id], name, mime

    async def _send_chat_action(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        chat_id = _chat_id_param(params)
        action = _str_param(params, "action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self._record(SentCall("sendChatAction", chat_id, None, params=dict(params)))
        return True

    async def _delete_message(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        chat_id = _chat_id_param(params)
        message_id = _int_param(params, "message_id")
        if message_id is None or self._messages.pop((chat_id, message_id), None) is None:
            raise _bad_request("message to delete not found")
        self._record(SentCall("deleteMessage", chat_id, message_id, params=dict(params)))
        return True

    async def _set_message_reaction(self, params: _Params, uploads: dict[str, _Upload]) -> bool:
        chat_id = _chat_id_param(params)
        message_id = _int_param(params, "message_id")
        message = None if message_id is None else self._messages.get((chat_id, message_id))
        if message is None:
            raise _bad_request("message to react not found")
        reaction = _json_param(params, "reaction") or []
        if not isinstance(reaction, list):
            raise _bad_request("can't parse reaction types JSON object")
        if len(reaction) > 1:  # a bot that is not premium sets at most one
            raise _bad_request("REACTIONS_TOO_MANY")
        emoji = []
        for kind in reaction:
            if not isinstance(kind, dict) or kind.get("type") != "emoji":
                raise _bad_request("REACTION_INVALID")
            if kind.get("emoji") not in _REACTION_EMOJI:
                raise _bad_request("REACTION_INVALID")
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

    # ------------------------------------------------------------------ control API

    def _control_routes(self, app: web.Application) -> None:
        """JSON control API for driving a standalone server from another process.

        * ``POST /_fake/files[?file_path=..&file_unique_id=..]`` (raw body) -> ``{"file_id"}``
        * ``POST /_fake/updates`` with ``{"update": {...}}`` or ``{"kind": "voice"|"audio"|
          "video_note"|"document"|"photo"|"text", ...keyword arguments}`` -> ``{"update_id"}``
        * ``POST /_fake/faults`` with ``{"method", "status", "retry_after"?, "count"?,
          "html"?}``
        * ``GET /_fake/sent`` -> sent calls (document bytes as ``document_size``)
        * ``GET /_fake/state`` -> ``confirmed_offset``, ``pending_updates``, ``calls``, ``commands``
        """
        app.router.add_post("/_fake/files", self._control_add_file)
        app.router.add_post("/_fake/updates", self._control_push_update)
        app.router.add_post("/_fake/faults", self._control_fail_next)
        app.router.add_get("/_fake/sent", self._control_sent)
        app.router.add_get("/_fake/state", self._control_state)

    async def _control_add_file(self, request: web.Request) -> web.Response:
        file_id = self.add_file(
            await request.read(),
            file_unique_id=request.query.get("file_unique_id"),
            file_path=request.query.get("file_path"),
        )
        return web.json_response({"file_id": file_id})

    async def _control_push_update(self, request: web.Request) -> web.Response:
        body = await request.json()
        builders: dict[str, Callable[..., int]] = {
            "text": self.text,
            "voice": self.voice,
            "audio": self.audio,
            "video_note": self.video_note,
            "document": self.document,
            "photo": self.photo,
        }
        try:
            if "update" in body:
                update_id = self.push_update(body["update"])
            else:
                kwargs = dict(body)
                update_id = builders[kwargs.pop("kind")](**kwargs)
        except (KeyError, TypeError, ValueError) as error:
            return web.json_response({"error": repr(error)}, status=400)
        return web.json_response({"update_id": update_id})

    async def _control_fail_next(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.fail_next(
                str(body["method"]),
                status=int(body["status"]),
                retry_after=body.get("retry_after"),
                count=int(body.get("count", 1)),
                html=bool(body.get("html", False)),
            )
        except (KeyError, TypeError, ValueError) as error:
            return web.json_response({"error": repr(error)}, status=400)
        return web.json_response({"ok": True})

    async def _control_sent(self, request: web.Request) -> web.Response:
        calls = []
        for call in self.sent:
            item = asdict(call)
            data = item.pop("document_bytes")
            item["document_size"] = None if data is None else len(data)
            calls.append(item)
        return web.json_response(calls)

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "confirmed_offset": self.confirmed_offset,
                "pending_updates": self.pending_updates(),
                "calls": self.calls,
                "commands": self.commands,
            }
        )


async def _serve(host: str, port: int, token: str) -> None:
    """Run a :class:`FakeTelegram` until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    fake = FakeTelegram(token)
    await fake.start(host, port)
    print(fake.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python tests/fake_telegram.py --port 8081``."""
    parser = argparse.ArgumentParser(description="Serve a fake Telegram Bot API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
