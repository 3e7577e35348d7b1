"""Webhook mode: Telegram POSTs each update here, and gets its answer only once handled.

An answer other than 200 (or none, after a crash) makes Telegram deliver the update again,
so ingestion stays at-least-once; the update journal makes it idempotent. The secret token
header is checked on every request. ``WEBHOOK_MAX_CONNECTIONS`` (default 1) is how many
updates Telegram sends at once: 1 keeps a chat's notes in the order they were sent.
"""

from __future__ import annotations

import asyncio
import hmac
from urllib.parse import urlsplit

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.services.ordering import ChatOrdering
from bot.services.update_journal import UpdateJournal
from bot.services.updates import handle_update, ticket_for

_log = structlog.get_logger("bot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """The aiohttp application that receives updates."""

    def __init__(
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        ordering: ChatOrdering,
        journal: UpdateJournal,
        *,
        url: str,
        secret: str,
    ) -> None:
        self._bot = bot
        self._dp = dispatcher
        self._ordering = ordering
        self._journal = journal
        self._secret = secret.encode()
        self.path = urlsplit(url).path or "/"
        self._in_flight: dict[int, asyncio.Task[None]] = {}

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post(self.path, self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            _log.warning("webhook_bad_secret", remote=request.remote)
            return web.Response(status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": self._bot})
        except (ValueError, ValidationError):
            return web.Response(status=400)
        uid = update.update_id
        if not self._journal.is_handled(uid):
            task = self._in_flight.get(uid)  # Telegram retried while we were still at it
            if task is None:
                task = asyncio.create_task(self._handle(update), name=f"update-{uid}")
                self._in_flight[uid] = task
            await asyncio.shield(task)  # a dropped connection must not cancel the handling
        return web.json_response({})

    async def _handle(self, update: Update) -> None:
        ticket = ticket_for(self._ordering, update)
        try:
            await handle_update(self._dp, self._bot, update, ticket, self._ordering)
            await self._journal.record(update.update_id, watermark=0)
        finally:
            del self._in_flight[update.update_id]

    async def drain(self, grace_seconds: float) -> None:
        """Give updates being handled a moment; the rest Telegram will send again."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight.values()), timeout=grace_seconds)


async def run_webhook(
    server: WebhookServer,
    bot: Bot,
    dispatcher: Dispatcher,
    *,
    url: str,
    secret: str,
    host: str,
    port: int,
    max_connections: int,
    stopping: asyncio.Event,
    grace_seconds: float,
) -> None:
    """Serve until ``stopping`` is set, with Telegram told where to send updates."""
    runner = web.AppRunner(server.application(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    await bot.set_webhook(
        url,
        secret_token=secret,
        max_connections=max_connections,
        allowed_updates=dispatcher.resolve_used_update_types(),
    )
    _log.info("webhook_listening", host=host, port=port, path=server.path)
    try:
        await stopping.wait()
    finally:
        await server.drain(grace_seconds)
        await runner.cleanup()
