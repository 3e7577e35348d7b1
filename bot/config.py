"""The bot's own settings (Telegram, access, logging), read from the environment and ``.env``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses larger files on Telegram's cloud API


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


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


class BotSettings(BaseSettings):
    """Settings of the Telegram side. ``BOT_TOKEN`` is the only one that is required."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    bot_token: SecretStr = Field(validation_alias=_env("BOT_TOKEN"))
    telegram_api_url: str | None = Field(default=None, validation_alias=_env("TELEGRAM_API_URL"))
    allowed_user_ids: str = Field(default="", validation_alias=_env("ALLOWED_USER_IDS"))
    max_download_bytes: int = Field(
        default=CLOUD_DOWNLOAD_LIMIT, gt=0, validation_alias=_env("MAX_DOWNLOAD_BYTES")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=_env("LOG_LEVEL")
    )
    log_format: Literal["console", "json"] = Field(
        default="console", validation_alias=_env("LOG_FORMAT")
    )
    poll_timeout_seconds: int = Field(
        default=30, ge=0, le=50, validation_alias=_env("TELEGRAM_POLL_TIMEOUT")
    )
    heartbeat_file: Path | None = Field(default=None, validation_alias=_env("HEARTBEAT_FILE"))
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, le=8, validation_alias=_env("SHUTDOWN_GRACE_SECONDS")
    )

    webhook_url: str | None = Field(default=None, validation_alias=_env("WEBHOOK_URL"))
    webhook_secret: SecretStr | None = Field(default=None, validation_alias=_env("WEBHOOK_SECRET"))
    webhook_host: str = Field(default="0.0.0.0", validation_alias=_env("WEBHOOK_HOST"))
    webhook_port: int = Field(default=8080, gt=0, lt=65536, validation_alias=_env("WEBHOOK_PORT"))
    webhook_max_connections: int = Field(
        default=1, ge=1, le=100, validation_alias=_env("WEBHOOK_MAX_CONNECTIONS")
    )

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.fullmatch(value.get_secret_value().strip()):
            raise ValueError("does not look like a bot token (digits:secret, from @BotFather)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_shape(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and not _SECRET_RE.fullmatch(value):
            raise ValueError("use 1-256 characters: letters, digits, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> BotSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required with WEBHOOK_URL")
        return self

    @field_validator("telegram_api_url", "heartbeat_file", "webhook_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_user_ids")
    @classmethod
    def _valid_ids(cls, value: str) -> str:
        AccessPolicy.parse(value)
        return value

    @property
    def access(self) -> AccessPolicy:
        return AccessPolicy.parse(self.allowed_user_ids)
