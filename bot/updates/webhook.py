"""Webhook mode: Telegram POSTs each update here, and gets its answer only once handled.

An answer other than 200 (or none, after a crash) makes Telegram deliver the update again,
so ingestion stays at-least-once; the update journal makes it idempotent. The secret token
header is checked on every request. ``WEBHOOK_MAX_CONNECTIONS`` (default 1) is how many
updates Telegram sends at once: 1 keeps a chat's notes in the order they were sent.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from bot.updates.connect import SHUTDOWN_CALL_SECONDS, until_answered
from bot.updates.inbox import UpdateInbox
from bot.updates.runner import UpdateRunner

_log = structlog.get_logger("bot.updates.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """The aiohttp application that receives updates and hands them to the runner."""

    def __init__(self, runner: UpdateRunner, *, url: str, secret: str) -> None:
        self.runner = runner
        self._secret = secret.encode()
        self.path = urlsplit(url).path or "/"
        self.closing = False  # stopping: take no new update (Telegram sends it again)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post(self.path, self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            _log.warning("webhook_bad_secret", remote=request.remote)
            return web.Response(status=401)
        if self.closing:
            # Telegram retries any answer but 200: the next start gets it.
            return web.Response(status=503, headers={"Retry-After": "1"})
        try:
            raw = json.loads(await request.read())
        except ValueError:
            # Telegram would send it again and again: answered, logged, dropped.
            _log.error("update_unparseable", update=None, error="the body is not JSON")
            return web.json_response({})
        update = self.runner.parse(raw)  # a poison update is logged and recorded there
        if update is not None:
            task = self.runner.accept(update)  # None: handled before
            if task is not None:
                try:
                    await asyncio.shield(task)  # a dropped connection must not cancel the handling
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if not task.cancelled() or (current is not None and current.cancelling()):
                        raise
                    return web.Response(status=503)  # cut off at shutdown: it comes again
        return web.json_response({})


async def run_webhook(
    server: WebhookServer,
    *,
    url: str,
    secret: str,
    host: str,
    port: int,
    max_connections: int,
    stopping: asyncio.Event,
    grace_seconds: float,
    api: str,
) -> None:
    """Serve until ``stopping`` is set, with Telegram told where to send updates."""
    runner = server.runner
    inbox = UpdateInbox.beside(runner.journal.path)
    runner.inbox = inbox
    # Stopping drains the runner first: by then no handler is left for aiohttp to wait on.
    site_runner = web.AppRunner(
        server.application(), handle_signals=False, shutdown_timeout=SHUTDOWN_CALL_SECONDS
    )
    await site_runner.setup()
    site = web.TCPSite(site_runner, host, port)
    await site.start()
    allowed = runner.dispatcher.resolve_used_update_types()
    try:
        # Updates a crash left in the inbox in polling mode are handled first, here too.
        runner.take_over(await inbox.open(runner.bot_id))
        told = await until_answered(
            lambda: runner.bot.set_webhook(
                url, secret_token=secret, max_connections=max_connections, allowed_updates=allowed
            ),
            what="setWebhook",
            api=api,
            stopping=stopping,
        )
        if told is not None:
            _log.info("webhook_listening", host=host, port=port, path=server.path)
        await stopping.wait()
    finally:
        # Stop taking updates first (new connections, and new requests on open ones), then
        # drain: a snapshot of what is in flight taken while updates still came in would
        # miss the later ones, and aiohttp would wait on them for a minute.
        server.closing = True
        await site.stop()
        await runner.drain(grace_seconds)
        await site_runner.cleanup()
        await inbox.close()
