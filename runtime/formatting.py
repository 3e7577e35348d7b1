"""How a length of time reads to people, the same in the chat and in the transcript."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """``5 -> "0:05"``, ``65 -> "1:05"``, ``3725 -> "1:02:05"``; a negative length reads 0:00."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
