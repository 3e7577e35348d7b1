"""``python -m transcription.worker`` logs like the bot: the same settings, format, redaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests.test_env_example import clear_settings_environment
from transcription import TranscriptionSettings, worker

PASSWORD = "redis-pass-4711"
REDIS_URL = f"redis://:{PASSWORD}@127.0.0.1:6390/0"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers = handlers
    root.setLevel(level)


@pytest.fixture
def serving(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[TranscriptionSettings]:
    """The worker's main() as it is, with a stand-in for the Redis and model part that logs
    what a connection failure would: the URL, from structlog and from a library."""
    clear_settings_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    served: list[TranscriptionSettings] = []

    async def serve(settings: TranscriptionSettings) -> None:
        served.append(settings)
        structlog.get_logger("transcription.worker").info("worker_started", url=settings.redis_url)
        logging.getLogger("redis.connection").warning("cannot connect to %s", settings.redis_url)
        structlog.get_logger("transcription.worker").debug("debug_line")

    monkeypatch.setattr(worker, "serve", serve)
    return served


def test_json_lines_with_the_redis_password_redacted(
    serving: list[TranscriptionSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert worker.main() == 0
    assert len(serving) == 1
    err = capsys.readouterr().err
    assert PASSWORD not in err
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert [(e["event"], e["level"], e["logger"]) for e in entries] == [
        ("worker_started", "info", "transcription.worker"),
        ("cannot connect to redis://:***@127.0.0.1:6390/0", "warning", "redis.connection"),
    ]
    assert entries[0]["url"] == "redis://:***@127.0.0.1:6390/0"
    assert all("timestamp" in e for e in entries)


def test_log_level_and_console_format_as_for_the_bot(
    serving: list[TranscriptionSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert worker.main() == 0
    err = capsys.readouterr().err
    assert "worker_started" in err
    assert "debug_line" in err
    assert PASSWORD not in err
    assert not err.lstrip().startswith("{")  # console lines, not JSON


def test_a_bad_log_setting_stops_the_worker_with_a_message(
    serving: list[TranscriptionSettings],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    assert worker.main() == 2
    assert serving == []
    assert "LOG_FORMAT is invalid" in capsys.readouterr().err
