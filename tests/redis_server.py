"""A real redis-server on a free loopback port, for the task-queue tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError


def free_port() -> int:
    """A loopback port free now, and never one another pytest-xdist worker would pick.

    Between this call and the server's own bind the port is free for anyone: two workers
    asking at once, or a server binding port 0, could take it. So each worker draws from its
    own block below the kernel's ephemeral range (32768 and up, where port-0 binds land).
    """
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % workers if worker.isdigit() else 0
    block = (32000 - 20000) // workers
    low = 20000 + index * block
    draw = random.Random()
    for _ in range(200):
        port = draw.randrange(low, low + block)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: draw again
            return port
    raise RuntimeError("no free loopback port for this worker")


def require_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (.ci/run installs it)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return path


class RedisServer:
    """Started and restarted on the same port and data folder; appendonly, so jobs survive."""

    def __init__(self, data_dir: Path, password: str | None = None) -> None:
        self.binary = require_redis_server()
        self.port = free_port()
        self.data_dir = data_dir
        self.password = password  # with one, the server refuses clients that do not AUTH
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            *(["--requirepass", self.password] if self.password else []),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            with contextlib.suppress(OSError, ConnectionError, RedisError):
                client = Redis.from_url(self.url)
                try:
                    if await client.ping():
                        return
                finally:
                    await client.aclose()
            await asyncio.sleep(0.025)
        raise TimeoutError("redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def restart(self, down_seconds: float = 1.0) -> None:
        await self.stop()
        await asyncio.sleep(down_seconds)
        await self.start()
