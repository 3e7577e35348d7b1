"""Settings of the processing stage, read from the environment and ``.env``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MARKDOWN = "markdown"
COMMAND_PREFIX = "command:"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class ProcessingSettings(BaseSettings):
    """Which processor runs after transcription, if any, and for how long at most."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    processor: str | None = Field(
        default=None,
        validation_alias=_env("PROCESSOR"),
        description="unset: no processing; markdown; or command:<shell command>",
    )
    processor_timeout_seconds: float = Field(
        default=600, gt=0, validation_alias=_env("PROCESSOR_TIMEOUT_SECONDS")
    )

    @field_validator("processor", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("processor")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.lower() == MARKDOWN:
            return MARKDOWN
        if value[: len(COMMAND_PREFIX)].lower() == COMMAND_PREFIX:
            command = value[len(COMMAND_PREFIX) :].strip()
            if not command:
                raise ValueError(
                    "PROCESSOR=command: needs a shell command after the colon, "
                    "e.g. command:/opt/summarise.sh"
                )
            return COMMAND_PREFIX + command
        raise ValueError(
            f"PROCESSOR must be empty, 'markdown' or 'command:<shell command>', not {value!r}"
        )

    @property
    def label(self) -> str | None:
        """``"markdown"``, ``"command"`` or None: which kind of processor is on."""
        if self.processor is None:
            return None
        return MARKDOWN if self.processor == MARKDOWN else "command"

    @property
    def command(self) -> str | None:
        """The shell command of ``PROCESSOR=command:...``, else None."""
        if self.processor is None or not self.processor.startswith(COMMAND_PREFIX):
            return None
        return self.processor[len(COMMAND_PREFIX) :]
