#!/usr/bin/env bash
# Run the bot without Docker: makes .venv if needed, installs the project, starts it.
# Settings come from .env in the repository root (copy .env.example and set BOT_TOKEN).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/python -m bot "$@"
