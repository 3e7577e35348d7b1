"""The Bot API's wire conventions the fake shares across its concerns.

Request parameters (forms carry strings, JSON carries values), Telegram's JSON error answers
and the handler signature every Bot API method of the fake has.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz01234"
"""The token :class:`FakeTelegram` accepts unless another one is given."""

Params = dict[str, Any]
Handler = Callable[[Params, "dict[str, Upload]"], Awaitable[Any]]

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


class ApiError(Exception):
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


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def int_param(params: Params, name: str) -> int | None:
    """``params[name]`` as an int (forms carry strings, JSON carries numbers), or None."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_request(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise bad_request(f"invalid {name} specified") from None


def str_param(params: Params, name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


def bool_param(params: Params, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return bool(value)


def json_param(params: Params, name: str) -> Any:
    """``params[name]`` decoded from JSON when it came as a string (as forms send it)."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(f"can't parse {name} JSON object") from None


def chat_id_param(params: Params) -> int:
    raw = params.get("chat_id")
    if raw is None or raw == "":
        raise bad_request("chat_id is empty")
    try:
        return int_param(params, "chat_id") or 0
    except ApiError:
        raise bad_request("chat not found") from None


def byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def entity_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")
