"""The project's one redactor, used on what a processor prints (it lives in ``sessions``,
so that the log set-up of every entry point shares it)."""

from sessions.redaction import MIN_SECRET_LENGTH, REDACTED, Redactor

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]
