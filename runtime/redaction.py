"""Takes secrets out of text: what a processor printed, and every log line; and the data
an error was about out of what is logged of it."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import ValidationError

REDACTED = "***"
# A Telegram bot token (digits:secret), and the password in a URL (redis://user:pw@host).
_BOT_TOKEN = re.compile(r"(?<![0-9])\d{3,}:[A-Za-z0-9_-]{30,}")  # also in ".../bot<token>/"
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):[^@\s/]+@")
# Shorter values would redact ordinary words (a PROCESSOR_ENV value such as "en").
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces each known secret, anything shaped like a bot token, and URL passwords."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted(found, key=len, reverse=True)

    @property
    def longest(self) -> int:
        """Length of the longest known secret (0 when there is none)."""
        return len(self._secrets[0]) if self._secrets else 0

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BOT_TOKEN.sub(REDACTED, text)
        return _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)


def error_kinds(exc: BaseException) -> str:
    """What went wrong, without the data it went wrong with, for a log line: a pydantic
    ValidationError as its errors' types and where (its message quotes the input, e.g. a
    chat's vocabulary), anything else as its class name."""
    if isinstance(exc, ValidationError):
        found = [f"{e['type']} at {'.'.join(map(str, e['loc'])) or 'top'}" for e in exc.errors()]
        return "; ".join(found[:5])
    return type(exc).__name__
