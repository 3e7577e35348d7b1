"""structlog set up once: console lines for people, JSON lines for machines, secrets redacted.

Standard-library logging (aiogram, aiohttp) goes through the same renderer, so every line
has one format, and the bot token never appears in any line (aiohttp puts it in URLs).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import WrappedLogger


class Redactor:
    """Replaces each secret with ``***`` in every value of a log event, and in the line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [s for s in secrets if s]

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __call__(self, logger: WrappedLogger, name: str, event: Any) -> Any:
        if isinstance(event, str | bytes):
            return self.scrub(event if isinstance(event, str) else event.decode())
        return {k: self.scrub(v) if isinstance(v, str) else v for k, v in event.items()}


def configure_logging(
    level: str = "INFO", fmt: str = "console", secrets: Iterable[str] = ()
) -> None:
    """Configure structlog and the standard library's root logger."""
    redact = Redactor(secrets)
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
    # aiogram logs every update at INFO; the bot logs its own "update_handled" line instead.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
