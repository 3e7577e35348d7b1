"""The composition root stops what it started, in one declared order, on every way out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram.client.session.aiohttp import AiohttpSession

from bot import app
from bot.app import run_bot
from bot.config import BotSettings
from bot.services.notifier import Notifier
from processing import ProcessingService, ProcessingSettings
from sessions import SessionConfig
from tests.fake_telegram import FakeTelegram
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionService, TranscriptionSettings

# Upper bound only: the whole start and stop take well under a second when idle.
BOUND_SECONDS = 60


class RecordingTranscriber(ScriptedTranscriber):
    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    async def aclose(self) -> None:
        await super().aclose()
        self.order.append("transcriber")


def record(
    monkeypatch: pytest.MonkeyPatch, owner: type[Any], method: str, label: str, order: list[str]
) -> None:
    """``owner.method`` appends ``label`` to ``order`` once it has run."""
    original: Callable[..., Awaitable[Any]] = getattr(owner, method)

    async def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = await original(self, *args, **kwargs)
        order.append(label)
        return result

    monkeypatch.setattr(owner, method, recorded)


@pytest.fixture
def order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    found: list[str] = []
    record(monkeypatch, TranscriptionService, "stop", "service", found)
    record(monkeypatch, ProcessingService, "stop", "stage", found)
    record(monkeypatch, Notifier, "stop", "notifier", found)
    original_close = AiohttpSession.close

    async def close(self: AiohttpSession) -> None:
        # aiogram also calls close() to reset a session not yet opened: not a shutdown.
        was_open = self._session is not None and not self._session.closed
        await original_close(self)
        if was_open:
            found.append("bot_session")

    monkeypatch.setattr(AiohttpSession, "close", close)
    return found


@pytest.fixture
def stop_requests(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.Event]:
    """run_bot's stop event, without real signal handlers (nor the deadline that exits)."""
    events: list[asyncio.Event] = []
    monkeypatch.setattr(app, "install_stop_signals", lambda event, _deadline: events.append(event))
    return events


def settings_for(fake: FakeTelegram, tmp_path: Path) -> tuple[BotSettings, SessionConfig]:
    bot = BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=fake.token,
        telegram_api_url=fake.base_url,
        poll_timeout_seconds=0,
        shutdown_grace_seconds=1,
    )
    return bot, SessionConfig(_env_file=None, base_dir=tmp_path / "sessions")  # type: ignore[call-arg]


async def test_shutdown_stops_service_stage_notifier_then_bot_session_then_transcriber(
    fake: FakeTelegram, tmp_path: Path, order: list[str], stop_requests: list[asyncio.Event]
) -> None:
    bot, sessions = settings_for(fake, tmp_path)
    transcriber = RecordingTranscriber(order)
    running = asyncio.create_task(
        run_bot(
            bot,
            sessions,
            TranscriptionSettings(_env_file=None),  # type: ignore[call-arg]
            ProcessingSettings(_env_file=None, processor="markdown"),  # type: ignore[call-arg]
            transcriber=transcriber,
        )
    )
    await fake.wait_called("getUpdates", timeout=BOUND_SECONDS)
    assert order == []
    (stop,) = stop_requests
    stop.set()
    await asyncio.wait_for(running, BOUND_SECONDS)
    assert order == ["service", "stage", "notifier", "bot_session", "transcriber"]
    assert transcriber.closed


async def test_a_part_that_fails_to_start_still_stops_everything_started_before_it(
    fake: FakeTelegram,
    tmp_path: Path,
    order: list[str],
    stop_requests: list[asyncio.Event],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken_start(self: ProcessingService) -> None:
        raise RuntimeError("the stage cannot start")

    monkeypatch.setattr(ProcessingService, "start", broken_start)
    bot, sessions = settings_for(fake, tmp_path)
    with pytest.raises(RuntimeError, match="the stage cannot start"):
        await asyncio.wait_for(
            run_bot(
                bot,
                sessions,
                TranscriptionSettings(_env_file=None),  # type: ignore[call-arg]
                ProcessingSettings(_env_file=None, processor="markdown"),  # type: ignore[call-arg]
                transcriber=RecordingTranscriber(order),
            ),
            BOUND_SECONDS,
        )
    # The service never started; what did start stops, in the usual order.
    assert order == ["stage", "notifier", "bot_session", "transcriber"]
    assert not any(c == "getUpdates" for c, _ in fake.calls)
