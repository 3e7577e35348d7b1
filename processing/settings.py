"""Settings of the processing stage, read from the environment and ``.env``."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from runtime.settings import TimeZoneSettings

MARKDOWN = "markdown"
COMMAND_PREFIX = "command:"
# The bot's secrets: no processor gets them, not even when PROCESSOR_ENV names them.
NEVER_PASSED = frozenset({"BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL", "LLM_API_KEY"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _split_names(raw: str) -> list[str]:
    names = [n.strip() for n in raw.replace(";", ",").split(",")]
    return list(dict.fromkeys(n for n in names if n))


class ProcessingSettings(TimeZoneSettings):
    """Which processor runs after transcription, if any, and for how long at most."""

    processor: str | None = Field(
        default=None, description="unset: no processing; markdown; or command:<shell command>"
    )
    processor_timeout_seconds: float = Field(default=600, gt=0)

    processor_env: str = Field(
        default="", description="comma-separated names of extra variables the command gets"
    )

    @field_validator("processor_env")
    @classmethod
    def _env_names(cls, value: str) -> str:
        names = _split_names(value)
        for name in names:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name.upper() in NEVER_PASSED:
                raise ValueError(f"{name} is the bot's own secret and never reaches a processor")
        return ",".join(names)

    @field_validator("processor", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

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

    @property
    def passed_env(self) -> list[str]:
        """Names of the variables ``PROCESSOR_ENV`` passes on to the command."""
        return _split_names(self.processor_env)
