"""The compose file passes every setting through, and the health check means something."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from bot import healthcheck
from tests.test_env_example import _documented

ROOT = Path(__file__).resolve().parents[1]
# Fixed by the image (its volumes and its heartbeat), so not taken from the environment.
SET_BY_IMAGE = {"SESSIONS_DIR", "HEARTBEAT_FILE"}


def test_compose_passes_every_setting() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    passed = dict(re.findall(r"^\s+([A-Z_]+): \$\{([A-Z_]+)", compose, flags=re.MULTILINE))
    assert all(key == value for key, value in passed.items())
    assert set(passed) == set(_documented()) - SET_BY_IMAGE


def test_dockerfile_basics() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2  # multi-stage
    assert "STOPSIGNAL SIGTERM" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, flags=re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile
    packages = re.search(r"include = \[(.*?)\]", (ROOT / "pyproject.toml").read_text())
    assert packages is not None
    for package in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {package} ./{package}" in dockerfile  # every package goes in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"tests", ".env", "data", ".venv"} <= set(ignored)


def test_healthcheck(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beat = tmp_path / "heartbeat"
    monkeypatch.setenv("HEARTBEAT_FILE", str(beat))
    monkeypatch.setenv("TELEGRAM_POLL_TIMEOUT", "30")
    assert healthcheck.main() == 1  # no heartbeat yet
    beat.touch()
    assert healthcheck.main() == 0
    stale = time.time() - (2 * 30 + healthcheck.SLACK_SECONDS + 5)
    os.utime(beat, (stale, stale))
    assert healthcheck.main() == 1
    monkeypatch.setenv("HEARTBEAT_FILE", "")
    assert healthcheck.main() == 1
