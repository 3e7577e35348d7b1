"""Settings of the session core, read from the environment and ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from runtime.settings import ProjectSettings, env_alias


class SessionConfig(ProjectSettings):
    """Where sessions live and how long one recording may be.

    ``base_dir`` defaults to ``data/sessions`` rather than the contract's ``sessions``,
    which would put user data inside the ``sessions/`` Python package.
    """

    base_dir: Path = Field(
        default=Path("data/sessions"), validation_alias=env_alias("SESSIONS_DIR")
    )
    max_audio_duration_seconds: int = Field(default=1200, gt=0)
