"""A durable record of which Telegram updates have been fully handled.

An update can come twice: from Telegram again (a crash before a poll confirmed it, or before
the webhook answered) or from the inbox again (a crash after it was handled, before it left
the inbox). This journal lets the bot skip updates it has already handled (a second
``/start`` would otherwise open a second session, a voice note could land in the next
session).

Only the ids themselves decide: Telegram starts numbering afresh (lower) after a week
without updates, and another bot starts elsewhere, so "everything below the highest id seen
is handled" would drop every later message. The journal belongs to one bot id; a journal
of another bot is set aside. Ids are forgotten once neither Telegram nor the inbox can bring
them again (confirmed by a poll and out of the inbox, or older than :data:`MAX_AGE_SECONDS`),
and never more than :data:`MAX_REMEMBERED` are kept, so the file stays small in webhook mode
too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from sessions import make_dir, write_atomic

_log = structlog.get_logger("bot.updates.journal")

# Telegram gives up redelivering an update after a day; keep ids two, to be safe.
MAX_AGE_SECONDS = 2 * 24 * 3600.0
MAX_REMEMBERED = 10_000
JOURNAL_VERSION = 2


class UpdateJournal:
    """The handled update ids of one bot, each with the time it was handled."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.bot_id: int | None = None
        self.handled: dict[int, float] = {}  # update id -> when it was handled (epoch s)
        self.highest = 0  # the highest id handled, to notice ids starting again lower
        self._clock = clock
        self._lock = asyncio.Lock()

    async def load(self, bot_id: int) -> None:
        """Read the journal of ``bot_id``. A missing file is an empty journal; a corrupt one
        is moved aside (``<name>.corrupt-<time>``) and logged; another bot's is ignored."""
        self.bot_id = bot_id
        data = await asyncio.to_thread(self._read)
        if data is None:
            return
        stored_bot = data.get("bot_id")
        if stored_bot is not None and stored_bot != bot_id:
            _log.warning(
                "update_journal_other_bot",
                path=str(self.path),
                journal_bot_id=stored_bot,
                bot_id=bot_id,
            )
            return
        self.handled = _handled_from(data, self._clock())
        self.highest = max(self.handled, default=0)
        self._prune()

    def is_handled(self, update_id: int) -> bool:
        """Handled, and recently enough that Telegram could still send it again: an older
        id may be reused once Telegram numbers afresh."""
        stamp = self.handled.get(update_id)
        return stamp is not None and self._clock() - stamp < MAX_AGE_SECONDS

    def follow_reset(self, update_id: int) -> None:
        """Numbering started again at ``update_id``: notice the next reset from here on (and
        do not log every later update as one)."""
        self.highest = update_id

    def is_reset(self, update_id: int) -> bool:
        """Whether ``update_id`` is a new update below one already handled: Telegram (or a
        new token) started numbering lower. It is handled as new; this is for the log."""
        return update_id < self.highest and update_id not in self.handled

    def mark(self, update_id: int) -> None:
        """Count ``update_id`` as handled at once, before it is durably recorded: a poll
        answered meanwhile must not run it again."""
        self.handled[update_id] = self._clock()
        self.highest = max(self.highest, update_id)

    def forget_confirmed(self, offset: int, keep: Callable[[int], bool] = lambda _: False) -> None:
        """Telegram confirmed every id below ``offset``: it will not send them again. Ids
        for which ``keep`` is true (still in the inbox) are remembered all the same."""
        self.handled = {i: t for i, t in self.handled.items() if i >= offset or keep(i)}

    async def record(self, update_id: int) -> None:
        """Durably note ``update_id`` as handled."""
        self.mark(update_id)
        async with self._lock:
            self.handled.setdefault(update_id, self._clock())
            self._prune()
            payload = json.dumps(
                {
                    "version": JOURNAL_VERSION,
                    "bot_id": self.bot_id,
                    "handled": [[i, round(t, 3)] for i, t in self.handled.items()],
                }
            ).encode()
            await asyncio.to_thread(self._write, payload)

    def _prune(self) -> None:
        oldest = self._clock() - MAX_AGE_SECONDS
        kept = sorted(((t, i) for i, t in self.handled.items() if t >= oldest), reverse=True)
        self.handled = {i: t for t, i in kept[:MAX_REMEMBERED]}

    def _read(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            _handled_from(data, 0.0)  # validates the shape
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self._clock())}")
            self.path.replace(aside)
            _log.warning(
                "update_journal_corrupt", path=str(self.path), kept_as=str(aside), error=str(exc)
            )
            return None
        return data

    def _write(self, payload: bytes) -> None:
        make_dir(self.path.parent)  # owner-only, like everything under SESSIONS_DIR
        write_atomic(self.path, payload)


def _handled_from(data: dict[str, Any], now: float) -> dict[int, float]:
    """The handled ids of a journal file; version 1 (a bare list of ids) counts them as
    handled ``now``. Its watermark is ignored: it is what made a lower id look handled."""
    raw = data["handled"]
    if not isinstance(raw, list):
        raise TypeError("handled is not a list")
    handled: dict[int, float] = {}
    for item in raw:
        if isinstance(item, list):
            update_id, at = item
            handled[int(update_id)] = float(at)
        else:
            handled[int(item)] = now
    return handled
