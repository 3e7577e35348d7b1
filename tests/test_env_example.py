"""`.env.example` lists every setting, with the defaults the code really has."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from bot.config import BotSettings
from processing import ProcessingSettings
from sessions import SessionConfig
from transcription import TranscriptionSettings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def _documented() -> dict[str, str]:
    pairs = {}
    for line in EXAMPLE.read_text().splitlines():
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
    for settings in (BotSettings, SessionConfig, TranscriptionSettings, ProcessingSettings):
        expected |= set(_env_names(settings))
    assert set(documented) == expected


def test_documented_defaults_are_the_real_ones(tmp_path: Path) -> None:
    documented = _documented()
    env_file = tmp_path / ".env"
    env_file.write_text(EXAMPLE.read_text().replace("BOT_TOKEN=", "BOT_TOKEN=1234:" + "a" * 35))
    for settings in (BotSettings, SessionConfig, TranscriptionSettings, ProcessingSettings):
        from_example = settings(_env_file=env_file)  # type: ignore[call-arg]
        defaults = settings(_env_file=None, bot_token="1234:" + "a" * 35)  # type: ignore[call-arg]
        for env_name, field_name in _env_names(settings).items():
            if env_name == "BOT_TOKEN":
                continue
            assert getattr(from_example, field_name) == getattr(defaults, field_name), (
                env_name,
                documented[env_name],
            )
