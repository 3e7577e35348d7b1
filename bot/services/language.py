"""What the deployment's speech model can do with a chat's language, for /lang and /status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageSupport:
    """What the speech model can do with a chat's language: the deployment's default
    (``WHISPER_LANGUAGE``; None: recognised) and whether it knows more than English."""

    multilingual: bool
    default_language: str | None = None


ENGLISH_ONLY = LanguageSupport(multilingual=False)

__all__ = ["ENGLISH_ONLY", "LanguageSupport"]
