"""One settings base for every package: the same sources, blanks and names everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from bot.config import BotSettings
from processing import ProcessingSettings
from runtime.settings import LogSettings, ProjectSettings, env_alias
from sessions import SessionConfig
from tests.conftest import TIMEOUT_SCALE
from tests.test_env_example import SETTINGS, TOKEN, _env_names, clear_settings_environment
from transcription import TranscriptionSettings

# Every setting whose type admits None, so a blank value can mean "unset".
OPTIONAL = [
    (settings, name)
    for settings in SETTINGS
    for name, info in settings.model_fields.items()
    if not info.is_required() and info.default is None
]


def test_every_package_builds_its_settings_on_the_one_base() -> None:
    assert all(issubclass(settings, ProjectSettings) for settings in SETTINGS)
    assert issubclass(BotSettings, LogSettings)


def test_each_setting_is_read_from_its_field_name_in_upper_case_but_two() -> None:
    renamed = {
        variable: field
        for settings in SETTINGS
        for variable, field in _env_names(settings).items()
        if variable != field.upper()
    }
    assert renamed == {"SESSIONS_DIR": "base_dir", "TELEGRAM_POLL_TIMEOUT": "poll_timeout_seconds"}


def test_the_optional_settings_are_the_expected_ones() -> None:
    assert {name for _, name in OPTIONAL} == {
        "telegram_api_url",
        "heartbeat_file",
        "webhook_url",
        "webhook_secret",
        "whisper_model",
        "whisper_compute_type",
        "whisper_language",
        "processor",
        "audio_retention_days",
        "session_retention_days",
        "llm_api_key",
        "llm_prompts_dir",
    }


@pytest.mark.parametrize(("settings", "name"), OPTIONAL, ids=lambda v: getattr(v, "__name__", v))
def test_a_blank_optional_setting_in_env_file_is_unset(
    settings: type[BaseSettings], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    alias = settings.model_fields[name].validation_alias
    variable = str(alias.choices[0])  # type: ignore[union-attr]
    env_file = tmp_path / "blank.env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\n{variable}=  \n", encoding="utf-8")
    assert getattr(settings(_env_file=env_file), name) is None  # type: ignore[call-arg]


def test_a_blank_required_text_stays_blank(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("ALLOWED_USER_IDS", "")
    monkeypatch.setenv("PROCESSOR_ENV", " ")
    assert BotSettings(bot_token=TOKEN).allowed_user_ids == ""
    assert ProcessingSettings().processor_env == ""


def test_a_variable_is_read_in_any_case_and_passed_by_lower_case_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("sessions_dir", str(tmp_path / "s"))
    monkeypatch.setenv("Whisper_Beam_Size", "3")
    assert SessionConfig().base_dir == tmp_path / "s"
    assert TranscriptionSettings().whisper_beam_size == 3
    assert SessionConfig(sessions_dir=tmp_path / "t").base_dir == tmp_path / "t"  # type: ignore[call-arg]
    assert SessionConfig(base_dir=tmp_path / "u").base_dir == tmp_path / "u"
    assert env_alias("LOG_LEVEL").choices == ["LOG_LEVEL", "log_level"]


def test_the_worker_reads_the_same_log_settings_as_the_bot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\nLOG_FORMAT=JSON\n", encoding="utf-8")
    log = LogSettings()
    bot = BotSettings(bot_token=TOKEN)
    assert (log.log_level, log.log_format) == ("DEBUG", "json")
    assert (bot.log_level, bot.log_format) == ("DEBUG", "json")


def test_secrets_name_what_must_never_be_shown() -> None:
    bot = BotSettings(_env_file=None, bot_token=TOKEN, webhook_secret="hook-secret")  # type: ignore[call-arg]
    assert bot.secrets == [TOKEN, "hook-secret"]
    with_password = TranscriptionSettings(_env_file=None, redis_url="redis://u:pw-123@r:6379/0")  # type: ignore[call-arg]
    in_query = TranscriptionSettings(_env_file=None, redis_url="redis://r/0?password=pw-456")  # type: ignore[call-arg]
    plain = TranscriptionSettings(_env_file=None, redis_url="redis://r:6379/0")  # type: ignore[call-arg]
    assert with_password.secrets == ["pw-123"]
    assert in_query.secrets == ["pw-456"]
    assert plain.secrets == []


def test_time_zones_work_without_the_systems_database(tmp_path: Path) -> None:
    """A slim container image may have no /usr/share/zoneinfo: the tzdata package stands in,
    so TIMEZONE=Asia/Kolkata still means +05:30 there (a child process with no system
    database on its search path shows it)."""
    script = (
        "import zoneinfo, datetime\n"
        "assert zoneinfo.TZPATH == (), zoneinfo.TZPATH\n"
        "from runtime.settings import TimeZoneSettings\n"
        "zone = TimeZoneSettings(timezone='Asia/Kolkata').zone\n"
        "print(datetime.datetime(2026, 1, 1, tzinfo=zone).utcoffset())\n"
    )
    env = {**os.environ, "PYTHONTZPATH": ""}  # empty: no system directories are searched
    env.pop("TIMEZONE", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60 * TIMEOUT_SCALE,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5:30:00"
