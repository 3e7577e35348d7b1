"""The bot's own settings (Telegram, access, logging), read from the environment and ``.env``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from library.retention import RetentionSettings
from notes.settings import NoteSettings
from processing.settings import ProcessingSettings
from runtime.settings import LogSettings, TimeZoneSettings, describe_problems, env_alias
from sessions.config import SessionConfig
from transcription.settings import TranscriptionSettings

_S = TypeVar("_S")

_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files on Telegram's cloud API


class AccessPolicy:
    """Who may use the bot: a set of numeric user ids, or anyone (``*``)."""

    def __init__(self, user_ids: frozenset[int], *, anyone: bool = False) -> None:
        self.user_ids = user_ids
        self.anyone = anyone

    @classmethod
    def parse(cls, raw: str) -> AccessPolicy:
        """``"1, 2"`` -> those users; ``"*"`` -> anyone; ``""`` -> nobody."""
        parts = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
        if parts == ["*"]:
            return cls(frozenset(), anyone=True)
        ids = set()
        for part in parts:
            if not part.lstrip("-").isdigit():
                raise ValueError(f"ALLOWED_USER_IDS: {part!r} is not a numeric user id or '*'")
            ids.add(int(part))
        return cls(frozenset(ids))

    def allows(self, user_id: int) -> bool:
        return self.anyone or user_id in self.user_ids


class BotSettings(LogSettings, TimeZoneSettings):
    """Settings of the Telegram side. ``BOT_TOKEN`` is the only one that is required."""

    bot_token: SecretStr
    telegram_api_url: str | None = None
    allowed_user_ids: str = ""
    max_download_bytes: int = Field(default=CLOUD_DOWNLOAD_LIMIT, gt=0)
    poll_timeout_seconds: int = Field(
        default=30, ge=0, le=50, validation_alias=env_alias("TELEGRAM_POLL_TIMEOUT")
    )
    heartbeat_file: Path | None = None
    shutdown_grace_seconds: float = Field(default=5.0, ge=0, le=8)

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, gt=0, lt=65536)
    webhook_max_connections: int = Field(default=1, ge=1, le=100)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            # Blank is what compose passes when BOT_TOKEN is unset (``${BOT_TOKEN:-}``, so
            # that ``docker compose down`` works without it): said as missing, not malformed.
            raise PydanticCustomError("missing", "Field required")
        if not _TOKEN_RE.fullmatch(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token (digits:secret, from @BotFather)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_RE.fullmatch(value.get_secret_value()):
            raise ValueError("use 1-256 characters: letters, digits, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> BotSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required with WEBHOOK_URL")
        return self

    @field_validator("allowed_user_ids")
    @classmethod
    def _valid_ids(cls, value: str) -> str:
        AccessPolicy.parse(value)
        return value

    @property
    def secrets(self) -> list[str]:
        """What these settings hold that must never be shown: the token, the webhook secret."""
        found = [self.bot_token.get_secret_value()]
        if self.webhook_secret is not None:
            found.append(self.webhook_secret.get_secret_value())
        return found

    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy.parse(self.allowed_user_ids)


class InvalidSettings(Exception):
    """Some settings are missing or malformed; ``problems`` says each in one line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Every part's settings, read once at start."""

    bot: BotSettings
    sessions: SessionConfig
    transcription: TranscriptionSettings
    processing: ProcessingSettings
    retention: RetentionSettings
    notes: NoteSettings


def load_settings() -> Settings:
    """Read every part's settings from the environment and ``.env``. Raises InvalidSettings
    naming every bad setting at once (each once, though two parts read ``TIMEZONE``), so
    one run shows all there is to fix."""
    problems: list[str] = []

    def read(kind: Callable[[], _S]) -> _S | None:
        try:
            return kind()
        except ValidationError as exc:
            problems.extend(p for p in describe_problems(exc) if p not in problems)
            return None

    bot = read(BotSettings)  # BOT_TOKEN comes from the environment
    sessions = read(SessionConfig)
    transcription = read(TranscriptionSettings)
    processing = read(ProcessingSettings)
    retention = read(RetentionSettings)
    notes = read(NoteSettings)
    if (
        problems
        or bot is None
        or sessions is None
        or transcription is None
        or processing is None
        or retention is None
        or notes is None
    ):
        raise InvalidSettings(problems)
    return Settings(bot, sessions, transcription, processing, retention, notes)
