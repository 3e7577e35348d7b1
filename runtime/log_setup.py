"""structlog set up once for every entry point (``python -m bot``, ``python -m
transcription.worker``): console lines for people, JSON lines for machines, secrets redacted.

Standard-library logging (aiogram, aiohttp, taskiq, redis) goes through the same renderer, so
every line has one format, and no secret appears in any line: the ones named, anything shaped
like a bot token (aiohttp puts it in URLs) and the password of any URL.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import WrappedLogger

from runtime.redaction import Redactor

# Libraries that log every event at INFO; each entry point logs its own line instead.
QUIET_LOGGERS = ("aiogram.event", "taskiq.receiver.receiver")


class LogRedactor:
    """A structlog processor: each secret becomes ``***`` in every string value of an event,
    and in the rendered line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.scrub = Redactor(secrets)

    def __call__(self, logger: WrappedLogger, name: str, event: Any) -> Any:
        if isinstance(event, str | bytes):
            return self.scrub(event if isinstance(event, str) else event.decode())
        return {k: self.scrub(v) if isinstance(v, str) else v for k, v in event.items()}


def configure_logging(
    level: str = "INFO", fmt: str = "console", secrets: Iterable[str] = ()
) -> None:
    """Configure structlog and the standard library's root logger, writing to stderr."""
    redact = LogRedactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            renderer,
            redact,  # exceptions are rendered into the line last: scrub that too
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
