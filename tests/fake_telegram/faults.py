"""Faults a test injects: error answers (429, 5xx, 409, a proxy's HTML page), calls that hang
until released, update ids numbered afresh and groups upgraded to supergroups."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fake_telegram.api import CONFLICT, DEFAULT_TOKEN, ApiError, Params, int_param
from tests.fake_telegram.updates import UpdatesMixin

FILE_METHOD = "file"
"""Pseudo method name that :meth:`FakeTelegram.fail_next` uses for file downloads."""

_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


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


class HtmlAnswer(Exception):
    """Raised by a fault: the answer is an HTML page, as a reverse proxy gives."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status

    def response(self) -> web.Response:
        phrase = HTTPStatus(self.status).phrase
        page = _PROXY_PAGE.format(status=self.status, phrase=phrase)
        return web.Response(status=self.status, text=page, content_type="text/html")


class FaultsMixin(UpdatesMixin):
    """Owns the injected faults; the server asks it before answering any call or download."""

    def __init__(self, token: str = DEFAULT_TOKEN, **options: Any) -> None:
        super().__init__(token, **options)
        self._faults: dict[str, deque[_Fault]] = {}
        self._hangs: dict[str, int | None] = {}  # method -> calls left to hang (None: all)
        self._migrated: dict[int, int] = {}  # group id -> the supergroup it became
        self._released = asyncio.Event()

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
        old_chat: dict[str, Any] = {"id": old_chat_id, "type": "group", "title": title}
        new_chat: dict[str, Any] = {"id": new_chat_id, "type": "supergroup", "title": title}
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

    # ------------------------------------------------------------------ asked by the server

    def _refuse_migrated(self, params: Params) -> None:
        chat_id = None
        with contextlib.suppress(ApiError):  # a malformed id is the method's to refuse
            chat_id = int_param(params, "chat_id")
        if chat_id is not None and chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )

    def _raise_fault(self, method: str) -> None:
        """Raise the next queued fault for ``method``, if any."""
        queue = self._faults.get(method.lower())
        if not queue:
            return
        fault = queue.popleft()
        if fault.html:
            raise HtmlAnswer(fault.status)
        parameters = None
        if fault.status == HTTPStatus.TOO_MANY_REQUESTS:
            description = f"Too Many Requests: retry after {fault.retry_after}"
        else:
            description = _DESCRIPTIONS.get(fault.status) or HTTPStatus(fault.status).phrase
        if fault.retry_after is not None:
            parameters = {"retry_after": fault.retry_after}
        raise ApiError(fault.status, fault.description or description, parameters)

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
