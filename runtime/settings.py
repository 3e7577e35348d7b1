"""What every settings class of the project shares: where settings come from and how
blanks read.

Each package (``sessions``, ``transcription``, ``processing``, ``bot``) declares its own
settings on :class:`ProjectSettings`, so they all read the environment and ``.env`` alike.
"""

from __future__ import annotations

import types
from typing import Any, ClassVar, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    AliasGenerator,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


def env_alias(name: str) -> AliasChoices:
    """The setting is read from the variable ``name`` (any case), and can be passed to the
    constructor by that name in lower case (or by its field name)."""
    return AliasChoices(name, name.lower())


def _env_name_of(field_name: str) -> AliasChoices:
    return env_alias(field_name.upper())


def describe_invalid(exc: ValidationError) -> str:
    """The first problem with the settings, in one line for the operator, e.g.
    ``BOT_TOKEN is missing: set it in the environment or in .env``."""
    return describe_problems(exc)[0]


def describe_problems(exc: ValidationError) -> list[str]:
    """Every problem with the settings, one line each in plain words for the operator:
    the variable's name, then what is wrong (never pydantic's "Value error," prefix, and
    never the value itself unless the check put it in its own words)."""
    return [_describe(error) for error in exc.errors()]


# pydantic's wording starts "Input should be ..."; the line names the setting instead.
_SHOULD = "Input should be "
_PLAIN = {
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_parsing": "should be a number",
    "bool_parsing": "should be true or false (1/0, yes/no, on/off)",
}


def _describe(error: Any) -> str:
    loc = error["loc"]
    name = str(loc[0]).upper() if loc else ""
    kind = error["type"]
    if kind == "missing":
        return f"{name or 'a setting'} is missing: set it in the environment or in .env"
    if kind in ("value_error", "assertion_error") and "error" in error.get("ctx", {}):
        message = str(error["ctx"]["error"])  # the check's own words, without the prefix
    elif kind in _PLAIN:
        message = _PLAIN[kind]
    else:
        message = str(error["msg"])
        if message.startswith(_SHOULD):
            message = "should be " + message.removeprefix(_SHOULD)
    if not name:  # a check across settings names them itself
        return message
    # A check may start with the setting's name already ("ALLOWED_USER_IDS: ..."): once is enough.
    message = message.removeprefix(f"{name}: ").removeprefix(f"{name} ")
    return f"{name} is invalid: {message}"


def _admits_none(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return type(None) in get_args(annotation)
    return annotation is None or annotation is type(None)


class ProjectSettings(BaseSettings):
    """Read from the environment and ``.env``; unknown variables are ignored.

    A setting is read from the variable named like the field in upper case
    (``whisper_beam_size`` <- ``WHISPER_BEAM_SIZE``), unless its field names another with
    ``validation_alias=env_alias(...)``.

    A setting that may be unset (its type admits None) reads a blank value as unset, so
    ``WHISPER_MODEL=`` in ``.env`` or compose means "the default", not an empty name.
    """

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=_env_name_of),
    )

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str) or value.strip() or info.field_name is None:
            return value
        field = cls.model_fields[info.field_name]
        return None if _admits_none(field.annotation) else value


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]


class LogSettings(ProjectSettings):
    """How a process logs: the bot and the task-queue worker read the same two settings."""

    log_level: LogLevel = "INFO"
    log_format: LogFormat = "console"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class TimeZoneSettings(ProjectSettings):
    """The owner's time zone (``TIMEZONE``, an IANA name such as ``Europe/Berlin``), in which
    every time shown to people is written: the chat's transcripts and lists, ``session.md``.

    Declared here, in the package every other one depends on, so the bot and the processing
    stage read the same setting without depending on each other.
    """

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{name!r} is not a time zone name; use an IANA name such as "
                "Europe/Berlin, America/New_York or UTC"
            ) from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
