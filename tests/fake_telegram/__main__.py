"""Serve a standalone fake: ``python -m tests.fake_telegram --port 8081``.

It prints its base URL and serves until SIGINT/SIGTERM; the JSON control API under
``/_fake/`` (see :meth:`FakeTelegram._control_routes`) stands in for the test-side methods.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from tests.fake_telegram.api import DEFAULT_TOKEN
from tests.fake_telegram.server import FakeTelegram


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
    """Command line entry point: ``python -m tests.fake_telegram --port 8081``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_telegram", description="Serve a fake Telegram Bot API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
