#!/usr/bin/env bash
# Run the bot without Docker: makes .venv if needed, installs the project, starts it.
# Settings come from .env in the repository root (copy .env.example and set BOT_TOKEN).
#
# The project is (re)installed only when pyproject.toml changed since the last install
# (a sha256 stamp kept in the venv), and quietly: the installer's output is shown only
# when it fails, so the one line the bot prints about a wrong setting stays in sight.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.pyproject.sha256"

checksum() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
wanted=$(checksum pyproject.toml)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$wanted" ]; then
  echo "run.sh: installing the project into $VENV (first run, or pyproject.toml changed)..." >&2
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
         "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "run.sh: installing the project failed (the installer's output is above)" >&2
    exit 1
  fi
  rm -f "$log"
  trap - EXIT
  echo "$wanted" >"$STAMP"
fi
exec "$VENV/bin/python" -m bot "$@"
