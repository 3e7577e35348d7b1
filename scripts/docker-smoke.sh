#!/usr/bin/env bash
# Builds the image and runs the /start -> voice notes -> /done flow against the container,
# with the test suite's fake Bot API server on 127.0.0.1. Needs root and a Docker engine:
# run ../shared/tools/docker-sandbox first on a machine without one. Not part of .ci/run.
#   bash scripts/docker-smoke.sh                  # the bot alone (local transcription)
#   bash scripts/docker-smoke.sh --scale [--live] # the bot, Redis and two workers (profile scale)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q -e '.[dev]'
fi
if [ "${1:-}" = "--scale" ]; then
  shift
  exec .venv/bin/python scripts/docker_scale_smoke.py "$@"
fi
exec .venv/bin/python scripts/docker_smoke.py "$@"
