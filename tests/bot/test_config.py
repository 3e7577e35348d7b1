"""The bot's settings, and how ``python -m bot`` reports bad ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot import __main__ as bot_main
from bot.config import (
    CLOUD_DOWNLOAD_LIMIT,
    AccessPolicy,
    BotSettings,
    InvalidSettings,
    load_settings,
)
from runtime.settings import describe_invalid
from tests.conftest import TIMEOUT_SCALE
from tests.test_env_example import clear_settings_environment

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz01234"

# -- AccessPolicy ----------------------------------------------------------------------------


def test_empty_policy_allows_nobody() -> None:
    for raw in ("", "  ", ",", " , ;"):
        policy = AccessPolicy.parse(raw)
        assert not policy.anyone
        assert policy.user_ids == frozenset()
        assert not policy.allows(1)
        assert not policy.allows(0)


def test_star_allows_anyone() -> None:
    policy = AccessPolicy.parse(" * ")
    assert policy.anyone
    assert policy.allows(1)
    assert policy.allows(987654321)


def test_ids_allow_exactly_those_users() -> None:
    policy = AccessPolicy.parse("1, 2")
    assert policy.user_ids == frozenset({1, 2})
    assert policy.allows(1)
    assert policy.allows(2)
    assert not policy.allows(3)
    assert not policy.anyone
    assert AccessPolicy.parse("5;6 ,7").user_ids == frozenset({5, 6, 7})
    assert AccessPolicy.parse("-100123").allows(-100123)


@pytest.mark.parametrize("raw", ["abc", "1, abc", "1.5", "*, 1", "**", "1 2"])
def test_malformed_ids_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="ALLOWED_USER_IDS"):
        AccessPolicy.parse(raw)


# -- BotSettings -----------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No bot setting from the environment, and no .env in the working directory."""
    for name in list(os.environ):
        if name.upper() in {
            "BOT_TOKEN",
            "TELEGRAM_API_URL",
            "ALLOWED_USER_IDS",
            "MAX_DOWNLOAD_BYTES",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "TELEGRAM_POLL_TIMEOUT",
            "HEARTBEAT_FILE",
            "SHUTDOWN_GRACE_SECONDS",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_env")
def test_defaults_with_a_token() -> None:
    settings = BotSettings(bot_token=TOKEN)
    assert settings.bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert settings.telegram_api_url is None
    assert settings.max_download_bytes == CLOUD_DOWNLOAD_LIMIT
    assert settings.log_level == "INFO"
    assert settings.log_format == "console"
    assert not settings.access.allows(1)  # closed by default


@pytest.mark.usefixtures("clean_env")
def test_token_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        BotSettings()
    assert info.value.errors()[0]["type"] == "missing"


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "123456",
        "123456:",
        "12:abcdefghijklmnopqrstuvwxyz0123456789",  # id too short
        "123456:short",
        "abcdef:abcdefghijklmnopqrstuvwxyz0123456789",
        "123456:abcdefghijklmnopqrstuvwxyz0123456789!",
        "123456 :abcdefghijklmnopqrstuvwxyz0123456789",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="bot token"):
        BotSettings(bot_token=token)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_token_is_missing(blank: str) -> None:
    """Compose passes an unset BOT_TOKEN as blank: the one line says it is missing."""
    with pytest.raises(ValidationError) as info:
        BotSettings(bot_token=blank)
    assert describe_invalid(info.value) == (
        "BOT_TOKEN is missing: set it in the environment or in .env"
    )


@pytest.mark.usefixtures("clean_env")
def test_token_is_stripped() -> None:
    assert BotSettings(bot_token=f"  {TOKEN}\n").bot_token.get_secret_value() == TOKEN


@pytest.mark.usefixtures("clean_env")
def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ALLOWED_USER_IDS", "7, 8")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("TELEGRAM_API_URL", "  ")
    monkeypatch.setenv("MAX_DOWNLOAD_BYTES", "1000")
    settings = BotSettings()
    assert settings.access.user_ids == frozenset({7, 8})
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.telegram_api_url is None  # blank means unset
    assert settings.max_download_bytes == 1000


@pytest.mark.usefixtures("clean_env")
def test_bad_allowed_user_ids_fail_validation() -> None:
    with pytest.raises(ValidationError, match="ALLOWED_USER_IDS"):
        BotSettings(bot_token=TOKEN, allowed_user_ids="me")


@pytest.mark.usefixtures("clean_env")
def test_env_file_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nALLOWED_USER_IDS=*\n")
    settings = BotSettings()
    assert settings.bot_token.get_secret_value() == TOKEN
    assert settings.access.anyone


# -- python -m bot ---------------------------------------------------------------------------
#
# Each run imports aiogram (about 2 s of CPU), so there are two, started together; other
# malformed settings go through the same main() in-process.

BAD_TOKEN = "123456:short-and-secret"
RUNS: dict[str, dict[str, str]] = {
    "missing_token": {},
    "bad_settings": {
        "BOT_TOKEN": BAD_TOKEN,
        "TIMEZONE": "Mars/Olympus",
        "WHISPER_BEAM_SIZE": "many",
        "PROCESSOR": "bogus",
    },
    "bad_model": {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",  # nothing listens: must not be reached
        "WHISPER_MODEL": "no-such-whisper-model-xyz",
        "WHISPER_DEVICE": "cpu",
        "LOG_FORMAT": "json",
    },
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    folder: Path


def _clean_environ() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("BOT_", "WHISPER_", "TELEGRAM_", "LOG_", "SESSIONS_"))
        and k.upper()
        not in {"ALLOWED_USER_IDS", "MAX_AUDIO_DURATION_SECONDS", "MAX_DOWNLOAD_BYTES"}
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """``python -m bot`` for each of RUNS, in an empty folder (no .env), all at once."""
    started = {}
    for name, env in RUNS.items():
        folder = tmp_path_factory.mktemp(name)
        full_env = {
            **_clean_environ(),
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
            "SESSIONS_DIR": str(folder / "sessions"),
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=folder,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started[name] = (proc, folder)
    found = {}
    for name, (proc, folder) in started.items():
        try:
            stdout, stderr = proc.communicate(timeout=60 * TIMEOUT_SCALE)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        found[name] = Outcome(proc.returncode, stdout, stderr, folder)
    return found


def assert_one_line(stderr: str, *fragments: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], stderr
    return lines[0]


def test_missing_token_exits_2_with_one_line(outcomes: dict[str, Outcome]) -> None:
    result = outcomes["missing_token"]
    assert result.returncode == 2, result.stderr
    line = assert_one_line(result.stderr, "BOT_TOKEN", "missing")
    assert line.startswith("voice-notes-bot: ")
    assert result.stdout == ""


@pytest.mark.usefixtures("clean_env")
def test_malformed_token_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", BAD_TOKEN)
    assert bot_main.main() == 2  # in-process: the same path as the subprocess above
    captured = capsys.readouterr()
    line = assert_one_line(captured.err, "BOT_TOKEN is invalid", "bot token")
    assert line.startswith("voice-notes-bot: ")
    assert BAD_TOKEN not in captured.err
    assert "short-and-secret" not in captured.err
    assert captured.out == ""


@pytest.mark.usefixtures("clean_env")
def test_malformed_other_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ALLOWED_USER_IDS", "everyone")
    assert bot_main.main() == 2  # in-process: no model, no Telegram
    captured = capsys.readouterr()
    line = assert_one_line(captured.err, "ALLOWED_USER_IDS is invalid", "everyone")
    assert line.startswith("voice-notes-bot: ")
    assert captured.out == ""


def test_unloadable_model_exits_1_with_one_line_last(
    outcomes: dict[str, Outcome],
) -> None:
    """The model loads while the bot reaches Telegram (here: nothing listens); that it
    cannot load stops the bot all the same, with the reason as the last line."""
    result = outcomes["bad_model"]
    assert result.returncode == 1, result.stderr
    *logged, last = result.stderr.splitlines()
    assert last.startswith("voice-notes-bot: cannot load Whisper model"), result.stderr
    assert "WHISPER_MODEL=no-such-whisper-model-xyz" in last
    assert "Traceback" not in result.stderr
    assert [json.loads(line)["event"] for line in logged][:1] == ["starting"]
    assert TOKEN not in result.stderr
    assert result.stdout == ""


# -- every bad setting at once, in plain words -------------------------------------------------


@pytest.mark.usefixtures("clean_env")
def test_every_bad_setting_is_reported_at_once_in_plain_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four parts' settings wrong at once: one line each, named by the variable, no
    pydantic prefixes ("Value error,", "Input should be"), TIMEZONE (read by two parts) once."""
    clear_settings_environment(monkeypatch, Path.cwd())
    monkeypatch.setenv("BOT_TOKEN", BAD_TOKEN)
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("WHISPER_BEAM_SIZE", "many")
    monkeypatch.setenv("WHISPER_DEVICE", "tpu")
    monkeypatch.setenv("LLM_DEFAULT_STYLE", "poem")
    monkeypatch.setenv("ALLOWED_USER_IDS", "everyone")
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    problems = raised.value.problems
    assert [p.split(" ", 1)[0] for p in problems] == [
        "TIMEZONE",
        "BOT_TOKEN",
        "ALLOWED_USER_IDS",
        "WHISPER_DEVICE",
        "WHISPER_BEAM_SIZE",
        "LLM_DEFAULT_STYLE",
    ]
    for problem in problems:
        assert " is invalid: " in problem
        assert "Value error" not in problem
        assert "Input should" not in problem
        assert "short-and-secret" not in problem
    assert problems[2] == (
        "ALLOWED_USER_IDS is invalid: 'everyone' is not a numeric user id or '*'"
    )
    assert problems[3] == "WHISPER_DEVICE is invalid: should be 'auto', 'cpu' or 'cuda'"


@pytest.mark.usefixtures("clean_env")
def test_missing_and_cross_checked_settings_read_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings_environment(monkeypatch, Path.cwd())
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example/hook")
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    assert raised.value.problems == [
        "BOT_TOKEN is missing: set it in the environment or in .env",
    ]
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    with pytest.raises(InvalidSettings) as raised:
        load_settings()
    assert raised.value.problems == ["WEBHOOK_SECRET is required with WEBHOOK_URL"]


@pytest.mark.usefixtures("clean_env")
def test_python_m_bot_prints_each_bad_setting_on_its_own_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clear_settings_environment(monkeypatch, Path.cwd())
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WHISPER_BEAM_SIZE", "0")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    assert bot_main.main() == 2  # in-process: nothing is started
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "voice-notes-bot: LOG_LEVEL is invalid: should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "voice-notes-bot: WHISPER_BEAM_SIZE is invalid: should be greater than or equal to 1",
    ]
    assert captured.out == ""


def test_python_m_bot_names_every_bad_setting_in_one_run(outcomes: dict[str, Outcome]) -> None:
    """The real process: every bad setting at once, one plain line each, exit 2, nothing
    started (no log line) and the malformed token's secret part never shown."""
    result = outcomes["bad_settings"]
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "voice-notes-bot: TIMEZONE is invalid: 'Mars/Olympus' is not a time zone name; use an "
        "IANA name such as Europe/Berlin, America/New_York or UTC",
        "voice-notes-bot: BOT_TOKEN is invalid: does not look like a bot token "
        "(digits:secret, from @BotFather)",
        "voice-notes-bot: WHISPER_BEAM_SIZE is invalid: should be a whole number",
        "voice-notes-bot: PROCESSOR is invalid: must be empty, 'markdown' or "
        "'command:<shell command>', not 'bogus'",
    ]
    assert "short-and-secret" not in result.stderr
    assert result.stdout == ""
