"""Runs the real bot (``python -m bot``) as a process of its own against the fake Bot API.

By default the process is forked from a server that imported aiogram once
(:mod:`tests.bot.bot_fork`: the same code path as ``python -m bot`` minus ten seconds of
imports per start); ``TEST_BOT_FORK=0``, or ``fork=False`` for one bot, starts the real
``python -m bot`` executable instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from tests.bot import bot_fork
from tests.conftest import TIMEOUT_SCALE

REPO = Path(__file__).resolve().parents[2]


class BotProcess:
    """One run of the bot; restart by making another with the same folders."""

    def __init__(
        self, base_url: str, token: str, data_dir: Path, *, fork: bool | None = None, **env: str
    ) -> None:
        self.fork = bot_fork.ENABLED if fork is None else fork
        self.data_dir = data_dir
        self.log_path = data_dir / f"bot-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": base_url,
            "SESSIONS_DIR": str(data_dir / "sessions"),
            "ALLOWED_USER_IDS": "*",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "TELEGRAM_POLL_TIMEOUT": "5",
            "WHISPER_CPU_THREADS": "2",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: asyncio.subprocess.Process | bot_fork.ForkedBot | None = None

    async def start(self) -> BotProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        if self.fork:
            log.close()
            # The fork server's first start imports aiogram (seconds): off the loop, so the
            # fake Bot API of this test keeps answering meanwhile.
            self.proc = await asyncio.to_thread(
                bot_fork.ForkedBot.start, [], self.env, str(REPO), str(self.log_path)
            )
            return self
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        return self

    async def wait_started(self, timeout: float = 60) -> None:  # noqa: ASYNC109
        """Until the bot has polled (``ready``) and set its commands and descriptions
        (``bot_described``). The Whisper model may still be loading: a note sent now waits
        for it, as a user's would."""
        deadline = time.monotonic() + timeout * TIMEOUT_SCALE
        while time.monotonic() < deadline:
            if {"ready", "bot_described"} <= {e.get("event") for e in self.events()}:
                return
            if self.proc is not None and self.proc.returncode is not None:
                raise RuntimeError(f"bot exited early:\n{self.output()}")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"bot did not start:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def held_updates(self) -> list[int]:
        """The update ids the bot's inbox holds on disk (confirmed to Telegram, not yet
        handled): what its next start handles first."""
        path = self.data_dir / "sessions" / ".telegram" / "inbox.sqlite3"
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(path)) as db:
            return [row[0] for row in db.execute("SELECT update_id FROM held ORDER BY seq")]

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.output().splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    found.append(item)
        return found

    async def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def terminate(self, timeout: float = 15) -> float:  # noqa: ASYNC109
        """SIGTERM; returns the seconds until the process exited."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), timeout)
        return time.monotonic() - started

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                await self.terminate()
            if self.proc.returncode is None:
                await self.kill()
