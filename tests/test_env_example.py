"""`.env.example` lists every setting, with the defaults the code really has."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from bot.config import BotSettings
from library import RetentionSettings
from notes.settings import NoteSettings
from processing import ProcessingSettings
from sessions import SessionConfig
from transcription import TranscriptionSettings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
SETTINGS: tuple[type[BaseSettings], ...] = (
    BotSettings,
    SessionConfig,
    RetentionSettings,
    TranscriptionSettings,
    ProcessingSettings,
    NoteSettings,
)
TOKEN = "1234:" + "a" * 35


def _documented(example: str | None = None) -> dict[str, str]:
    pairs = {}
    text = EXAMPLE.read_text(encoding="utf-8") if example is None else example
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _env_names(settings: type[BaseSettings]) -> dict[str, str]:
    names = {}
    for field_name, info in settings.model_fields.items():
        alias = info.validation_alias
        assert isinstance(alias, AliasChoices), field_name
        names[str(alias.choices[0])] = field_name
    return names


def test_every_setting_is_documented() -> None:
    documented = _documented()
    expected: set[str] = set()
    for settings in SETTINGS:
        expected |= set(_env_names(settings))
    assert set(documented) == expected


def clear_settings_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the shell running pytest, and no ``.env`` in the working folder:
    otherwise both sides of the comparison read the same value and always agree."""
    names = {name.lower() for settings in SETTINGS for name in _env_names(settings)}
    for key in list(os.environ):
        if key.lower() in names:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def drifted_defaults(example: str, tmp_path: Path) -> list[tuple[str, str]]:
    """(variable, documented value) for each default that ``example`` gets wrong."""
    env_file = tmp_path / "example.env"
    env_file.write_text(example.replace("BOT_TOKEN=", "BOT_TOKEN=" + TOKEN), encoding="utf-8")
    documented = _documented(example)
    drifted = []
    for settings in SETTINGS:
        from_example = settings(_env_file=env_file)  # type: ignore[call-arg]
        defaults = settings(_env_file=None, bot_token=TOKEN)  # type: ignore[call-arg]
        for env_name, field_name in _env_names(settings).items():
            if env_name == "BOT_TOKEN":
                continue
            if getattr(from_example, field_name) != getattr(defaults, field_name):
                drifted.append((env_name, documented[env_name]))
    return drifted


def test_documented_defaults_are_the_real_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clear_settings_environment(monkeypatch, tmp_path)
    assert drifted_defaults(EXAMPLE.read_text(encoding="utf-8"), tmp_path) == []


def test_a_drifted_default_is_caught_even_if_the_shell_sets_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WHISPER_BEAM_SIZE", "4")  # as a developer's shell might
    monkeypatch.setenv("transcription_retries", "7")
    (tmp_path / ".env").write_text("MAX_AUDIO_DURATION_SECONDS=60\n", encoding="utf-8")
    clear_settings_environment(monkeypatch, tmp_path)
    example = EXAMPLE.read_text(encoding="utf-8")
    drifted = (
        example.replace("\nWHISPER_BEAM_SIZE=5\n", "\nWHISPER_BEAM_SIZE=4\n")
        .replace("\nTRANSCRIPTION_RETRIES=2\n", "\nTRANSCRIPTION_RETRIES=7\n")
        .replace("\nMAX_AUDIO_DURATION_SECONDS=1200\n", "\nMAX_AUDIO_DURATION_SECONDS=60\n")
    )
    assert drifted != example
    assert sorted(drifted_defaults(drifted, tmp_path)) == [
        ("MAX_AUDIO_DURATION_SECONDS", "60"),
        ("TRANSCRIPTION_RETRIES", "7"),
        ("WHISPER_BEAM_SIZE", "4"),
    ]
