"""The package faces hold: only ``sessions`` knows the session folder, and only the
composition root knows which SessionManager implementation runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONSUMERS = ("bot", "transcription", "processing", "notes")


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): path.read_text(encoding="utf-8")
        for package in CONSUMERS
        for path in sorted((REPO / package).rglob("*.py"))
    }


def test_no_consumer_reaches_into_the_session_folders_owner() -> None:
    inside = re.compile(r"sessions\.(layout|storage|folder|manager)\b")
    found = {name: inside.findall(text) for name, text in sources().items()}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_only_the_composition_root_builds_the_file_session_manager() -> None:
    users = {name for name, text in sources().items() if "FileSessionManager" in text}
    assert users == {"bot/app.py"}
