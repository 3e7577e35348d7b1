"""A JSON control API that drives a standalone fake from another process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from aiohttp import web

from tests.fake_telegram.faults import FaultsMixin
from tests.fake_telegram.profile import ProfileMixin


class ControlMixin(FaultsMixin, ProfileMixin):
    """Stands in for the test-side methods over HTTP, under ``/_fake/``."""

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
