"""A durable record of which Telegram updates have been fully handled.

Telegram forgets an update once a later ``getUpdates`` call confirms it. Between finishing
an update and that call, a crash makes Telegram deliver it again; this journal lets the
bot skip updates it has already handled (a redelivered ``/start`` would otherwise open a
second session, a redelivered voice note could land in the next session).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sessions.storage import write_atomic

# Telegram gives up redelivering an update after about a day; far fewer are ever in doubt.
MAX_REMEMBERED = 10_000


class UpdateJournal:
    """Remembers the lowest unconfirmed update id and the handled ids above it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.watermark = 0  # every update id below this is handled
        self.handled: set[int] = set()
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        def read() -> tuple[int, set[int]]:
            try:
                data = json.loads(self.path.read_text())
                return int(data["watermark"]), {int(i) for i in data["handled"]}
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                return 0, set()

        self.watermark, self.handled = await asyncio.to_thread(read)

    def is_handled(self, update_id: int) -> bool:
        return update_id < self.watermark or update_id in self.handled

    async def record(self, update_id: int, watermark: int) -> None:
        """Durably note ``update_id`` as handled; ids below ``watermark`` are all handled."""
        # At once, before waiting for the lock: the poller has already taken the update out
        # of its in-flight set, and a poll answered meanwhile must not run it again.
        self.handled.add(update_id)
        async with self._lock:
            self.handled.add(update_id)
            self.watermark = max(self.watermark, watermark)
            self.handled = {i for i in self.handled if i >= self.watermark}
            if len(self.handled) > MAX_REMEMBERED:  # webhook mode has no watermark to prune by
                self.handled = set(sorted(self.handled)[-MAX_REMEMBERED:])
            payload = json.dumps(
                {"watermark": self.watermark, "handled": sorted(self.handled)}
            ).encode()
            await asyncio.to_thread(self._write, payload)

    def _write(self, payload: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, payload)
