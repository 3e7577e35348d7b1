"""Receiving updates: long polling, or the webhook server when WEBHOOK_URL is set, with the
heartbeat file the container's health check reads while either works."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bot.config import BotSettings
from bot.startup import FirstPoll, api_base
from bot.updates.polling import ReliablePoller
from bot.updates.runner import UpdateRunner
from bot.updates.webhook import WebhookServer, run_webhook

HEARTBEAT_INTERVAL = 10.0


@dataclass
class Heartbeat:
    """Touches a file while polling works, for the container's health check."""

    path: Path | None
    last: float = 0.0

    def beat(self) -> None:
        if self.path is None or time.monotonic() - self.last < HEARTBEAT_INTERVAL:
            return
        self.last = time.monotonic()
        path = self.path
        asyncio.get_running_loop().run_in_executor(None, _touch, path)


async def _beat_while_serving(heartbeat: Heartbeat) -> None:
    # A webhook server has no poll to mark that it is alive; it is, while this runs.
    while True:
        heartbeat.beat()
        await asyncio.sleep(HEARTBEAT_INTERVAL)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


async def receive_updates(
    settings: BotSettings,
    runner: UpdateRunner,
    stop_requested: asyncio.Event,
    first_poll: FirstPoll | None = None,
) -> None:
    """Long polling, or a webhook server when WEBHOOK_URL is set, until stop is requested.
    ``first_poll`` is called at every answered poll (and once the webhook is set)."""
    heartbeat = Heartbeat(settings.heartbeat_file)

    def on_poll() -> None:
        heartbeat.beat()
        if first_poll is not None:
            first_poll()

    if settings.webhook_url and settings.webhook_secret is not None:
        secret = settings.webhook_secret.get_secret_value()
        beating = asyncio.create_task(_beat_while_serving(heartbeat))
        if first_poll is not None:
            first_poll()  # no poll to wait for: the server is set up as run_webhook starts
        server = WebhookServer(runner, url=settings.webhook_url, secret=secret)
        try:
            await run_webhook(
                server,
                url=settings.webhook_url,
                secret=secret,
                host=settings.webhook_host,
                port=settings.webhook_port,
                max_connections=settings.webhook_max_connections,
                stopping=stop_requested,
                grace_seconds=settings.shutdown_grace_seconds,
                api=api_base(settings),
            )
        finally:
            beating.cancel()
        return
    poller = ReliablePoller(
        runner,
        poll_timeout=settings.poll_timeout_seconds,
        on_poll=on_poll,
        grace_seconds=settings.shutdown_grace_seconds,
    )
    stopper = asyncio.create_task(stop_requested.wait())
    stopper.add_done_callback(lambda _: poller.stop())
    try:
        await poller.run()
    finally:
        stopper.cancel()


__all__ = ["HEARTBEAT_INTERVAL", "Heartbeat", "receive_updates"]
