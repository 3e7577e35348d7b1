"""The HTTP server: the aiohttp app, token checks, routing of methods and downloads, and the
:class:`FakeTelegram` that joins every concern."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

from aiohttp import web

from tests.fake_telegram.api import DEFAULT_TOKEN, ApiError, Handler, Params, Upload, bad_request
from tests.fake_telegram.callbacks import CallbacksMixin
from tests.fake_telegram.control import ControlMixin
from tests.fake_telegram.faults import FILE_METHOD, HtmlAnswer
from tests.fake_telegram.files import MAX_DOWNLOAD_SIZE
from tests.fake_telegram.messages import MessagesMixin
from tests.fake_telegram.profile import ProfileMixin


class FakeTelegram(ControlMixin, CallbacksMixin, MessagesMixin, ProfileMixin):
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
        super().__init__(
            token,
            bot_username=bot_username,
            bot_first_name=bot_first_name,
            max_download_size=max_download_size,
            timeout_scale=timeout_scale,
        )
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._handlers: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._api_methods().items()
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

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/bot{token}/{method}``: auth, routing, faults, then the handler."""
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        requested = request.match_info["method"]
        name, handler = self._handlers.get(requested.lower(), (requested, None))
        self.calls.append((name, time.monotonic()))
        self._notify()
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            await self._maybe_hang(name)
            self._raise_fault(name)
            params, uploads = await self._read_request(request)
            self._refuse_migrated(params)
            result = await handler(params, uploads)
        except (ApiError, HtmlAnswer) as error:
            return error.response()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve ``/file/bot{token}/{file_path}`` like Telegram's file server."""
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        file_path = request.match_info["file_path"]
        self.downloads.append((file_path, time.monotonic()))
        self._notify()
        try:
            await self._maybe_hang(FILE_METHOD)
            self._raise_fault(FILE_METHOD)
        except (ApiError, HtmlAnswer) as error:
            return error.response()
        return await self._serve_file(request, file_path)

    async def _handle_not_found(self, request: web.Request) -> web.StreamResponse:
        """Anything else: Telegram's JSON 404."""
        return ApiError(404, "Not Found").response()

    async def _read_request(self, request: web.Request) -> tuple[Params, dict[str, Upload]]:
        """Merge query string and body (JSON, urlencoded or multipart) into params + files."""
        params: Params = dict(request.query)
        uploads: dict[str, Upload] = {}
        if not request.can_read_body:
            return params, uploads
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            params.update(body)
        elif request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = Upload(value.filename, value.content_type, value.file.read())
                elif isinstance(value, bytes | bytearray):
                    params[key] = bytes(value).decode()
                else:
                    params[key] = value
        return params, uploads
