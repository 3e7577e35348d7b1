"""``python -m bot.healthcheck``: exit 0 while the bot's polling heartbeat is fresh.

The bot touches ``HEARTBEAT_FILE`` after each successful ``getUpdates`` (at most every 10 s;
an idle long poll returns every ``TELEGRAM_POLL_TIMEOUT`` seconds). A heartbeat older than
twice the poll timeout plus a minute means polling is stuck or Telegram is unreachable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

SLACK_SECONDS = 60


def main() -> int:
    path = os.environ.get("HEARTBEAT_FILE", "").strip()
    if not path:
        print("HEARTBEAT_FILE is not set", file=sys.stderr)
        return 1
    poll_timeout = int(os.environ.get("TELEGRAM_POLL_TIMEOUT", "30") or 30)
    try:
        age = time.time() - Path(path).stat().st_mtime
    except FileNotFoundError:
        print(f"no heartbeat yet at {path}", file=sys.stderr)
        return 1
    limit = 2 * poll_timeout + SLACK_SECONDS
    if age > limit:
        print(f"heartbeat is {age:.0f} s old (limit {limit} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
