"""scripts/run.sh installs the project only when pyproject.toml changed, and quietly.

Run against a copy of the script with a stub ``.venv/bin/python`` that records how it is
called: nothing is installed for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUB = """#!/usr/bin/env bash
echo "$*" >> "$(dirname "$0")/../calls.log"
if [ "$1 $2" = "-m pip" ] && [ -e "$(dirname "$0")/../fail-install" ]; then
  echo "ERROR: the installer's own words" >&2
  exit 1
fi
if [ "$1 $2" = "-m pip" ]; then
  echo "WARNING: installer noise nobody needs" >&2
fi
if [ "$1 $2" = "-m bot" ]; then
  echo "voice-notes-bot: BOT_TOKEN: the one line that matters" >&2
  exit 2
fi
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    stub = tmp_path / ".venv" / "bin" / "python"
    stub.parent.mkdir(parents=True)
    stub.write_text(STUB)
    stub.chmod(0o755)
    return tmp_path


def _run(project: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = project / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PYTHON": "/nonexistent-python"}  # the stub venv is already there
    done = subprocess.run(
        ["bash", str(project / "scripts" / "run.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


def _installs(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("-m pip install") and "-e ." in call]


def test_installs_once_then_only_when_pyproject_changes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    first, calls = _run(project)
    assert len(_installs(calls)) == 1
    assert calls[-1] == "-m bot"
    assert first.returncode == 2  # the bot's own exit status comes through
    # Quiet: the installer's chatter is not shown, the bot's one line is.
    assert "installer noise" not in first.stderr
    assert "the one line that matters" in first.stderr

    again, calls = _run(project)
    assert _installs(calls) == []
    assert calls == ["-m bot"]
    assert again.stderr.strip() == "voice-notes-bot: BOT_TOKEN: the one line that matters"

    (project / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    _, calls = _run(project)
    assert len(_installs(calls)) == 1
    _, calls = _run(project)
    assert _installs(calls) == []


def test_failed_install_is_shown_and_tried_again(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".venv" / "fail-install").touch()
    failed, calls = _run(project)
    assert failed.returncode == 1
    assert "-m bot" not in calls
    assert "the installer's own words" in failed.stderr
    (project / ".venv" / "fail-install").unlink()
    _, calls = _run(project)  # no stamp was left: installed this time
    assert len(_installs(calls)) == 1
    assert calls[-1] == "-m bot"
