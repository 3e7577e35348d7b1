"""Session ids: ``YYYY-MM-DD_HH-MM-SS`` in UTC, with ``_N`` appended when a second is taken.

Ids sort by creation time (see :func:`sort_key`), which lets listings avoid reading
every session's metadata.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ID_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})(?:_([1-9]\d{0,5}))?$")
_FORMAT = "%Y-%m-%d_%H-%M-%S"


def is_valid_session_id(value: object) -> bool:
    """Whether ``value`` is a well-formed session id (and so a safe folder name)."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def base_id(moment: datetime) -> str:
    """The id a session created at ``moment`` gets when its second is still free."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def candidate_ids(moment: datetime) -> list[str]:
    """Ids to try in order for a session created at ``moment``: the base, then suffixes."""
    base = base_id(moment)
    return [base] + [f"{base}_{n}" for n in range(2, 1000)]


def sort_key(session_id: str) -> tuple[str, int]:
    """Chronological sort key (``_10`` sorts after ``_9``)."""
    match = _ID_RE.fullmatch(session_id)
    if match is None:
        return (session_id, 0)
    return (match.group(1), int(match.group(2) or 1))
