"""configure_logging: one format for structlog and stdlib lines, secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import bot.app
from bot import __main__ as bot_main
from bot.config import BotSettings
from runtime.log_setup import LogRedactor, configure_logging
from tests.test_env_example import clear_settings_environment

SECRET = "123456:TEST-secret_abcdefghijklmnopqrstuvwxyz01"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put logging back as it was, so other tests see the usual configuration."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    aiogram_event = logging.getLogger("aiogram.event")
    aiogram_level = aiogram_event.level
    yield
    structlog.reset_defaults()
    root.handlers = handlers
    root.setLevel(level)
    aiogram_event.setLevel(aiogram_level)


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(item, dict) for item in parsed)
    return parsed


def test_json_lines_from_structlog_and_stdlib_never_hold_the_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json", secrets=[SECRET])
    structlog.get_logger("bot.test").info(
        "structlog_line", url=f"https://api.telegram.org/bot{SECRET}/getMe", count=3
    )
    logging.getLogger("aiohttp.client").warning("GET /bot%s/getUpdates failed", SECRET)
    try:
        raise RuntimeError(f"connection to /bot{SECRET}/sendMessage reset")
    except RuntimeError:
        logging.getLogger("aiogram.dispatcher").exception("stdlib failure for %s", SECRET)
        structlog.get_logger("bot.test").exception("structlog_failure", token=SECRET)

    captured = capsys.readouterr()
    assert SECRET not in captured.err
    assert SECRET not in captured.out
    assert SECRET.split(":")[1] not in captured.err
    entries = json_lines(captured.err)
    assert [e["event"] for e in entries] == [
        "structlog_line",
        "GET /bot***/getUpdates failed",
        "stdlib failure for ***",
        "structlog_failure",
    ]
    first, second, third, fourth = entries
    assert first["url"] == "https://api.telegram.org/bot***/getMe"
    assert first["count"] == 3
    assert first["level"] == "info"
    assert first["logger"] == "bot.test"
    assert "timestamp" in first
    assert (second["level"], second["logger"]) == ("warning", "aiohttp.client")
    assert "timestamp" in second
    # Exceptions are rendered into the line, and scrubbed there too.
    assert "RuntimeError: connection to /bot***/sendMessage reset" in third["exception"]
    assert "Traceback" in third["exception"]
    assert third["level"] == "error"
    assert "RuntimeError: connection to /bot***/sendMessage reset" in fourth["exception"]
    assert fourth["token"] == "***"


def test_levels_filter_both_kinds_of_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json", secrets=[SECRET])
    structlog.get_logger("bot.test").info("hidden_structlog")
    logging.getLogger("some.lib").info("hidden stdlib")
    structlog.get_logger("bot.test").warning("shown_structlog")
    logging.getLogger("some.lib").error("shown stdlib")
    entries = json_lines(capsys.readouterr().err)
    assert [e["event"] for e in entries] == ["shown_structlog", "shown stdlib"]


def test_aiogram_update_chatter_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("aiogram.event").info("Update id=1 is handled")
    logging.getLogger("aiogram.event").warning("something odd")
    entries = json_lines(capsys.readouterr().err)
    assert [e["event"] for e in entries] == ["something odd"]


def test_console_format_is_scrubbed_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG", "console", secrets=[SECRET])
    structlog.get_logger("bot.test").debug("console_line", token=SECRET)
    try:
        raise ValueError(SECRET)
    except ValueError:
        logging.getLogger("aiohttp").exception("failed %s", SECRET)
    err = capsys.readouterr().err
    assert "console_line" in err
    assert "ValueError" in err
    assert SECRET not in err
    assert "\x1b[" not in err  # no colours when stderr is not a terminal


def test_redactor_scrubs_strings_and_events() -> None:
    redact = LogRedactor(["s3cret", ""])  # an empty secret must not blank everything
    assert redact.scrub("a s3cret b s3cret") == "a *** b ***"
    assert redact(None, "info", "line with s3cret") == "line with ***"
    assert redact(None, "info", b"bytes s3cret") == "bytes ***"
    event = redact(None, "info", {"event": "x s3cret", "n": 1, "other": "plain"})
    assert event == {"event": "x ***", "n": 1, "other": "plain"}


def test_python_m_bot_redacts_token_webhook_secret_and_redis_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    hook, password = "hook-secret-0815", "redis-pass-4711"
    monkeypatch.setenv("BOT_TOKEN", SECRET)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", hook)
    monkeypatch.setenv("REDIS_URL", f"redis://worker:{password}@redis:6379/0")
    monkeypatch.setenv("LOG_FORMAT", "json")

    async def run_bot(settings: BotSettings, *_: Any, **__: Any) -> None:
        structlog.get_logger("bot.test").info("all_secrets", line=f"{hook} {password}")
        logging.getLogger("aiohttp.client").warning("POST /bot%s with %s", SECRET, hook)

    monkeypatch.setattr(bot.app, "run_bot", run_bot)  # imported by main() after its first line
    assert bot_main.main() == 0
    err = capsys.readouterr().err
    for secret in (SECRET, hook, password):
        assert secret not in err
    events = [e["event"] for e in json_lines(err)]
    assert events == ["starting", "all_secrets", "POST /bot*** with ***"]
