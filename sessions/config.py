"""Settings of the session core, read from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionConfig(BaseSettings):
    """Where sessions live and how long one recording may be.

    ``base_dir`` defaults to ``data/sessions`` rather than the contract's ``sessions``,
    which would put user data inside the ``sessions/`` Python package.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    base_dir: Path = Field(
        default=Path("data/sessions"),
        validation_alias=AliasChoices("SESSIONS_DIR", "base_dir"),
    )
    max_audio_duration_seconds: int = Field(
        default=1200,
        gt=0,
        validation_alias=AliasChoices("MAX_AUDIO_DURATION_SECONDS", "max_audio_duration_seconds"),
    )
