"""The one place updates are handled, whichever source (long polling, webhook) brought them.

The runner decides what is new (the journal), gives each update its place in its chat (a
:class:`~bot.updates.ordering.Ticket`, issued in arrival order), keeps track of what is in
flight, and records what finished, so a source only has to ask :meth:`UpdateRunner.accept`
and :meth:`UpdateRunner.lowest_in_flight`. An update cut off at shutdown is never recorded,
so Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError

from bot.updates.journal import UpdateJournal
from bot.updates.ordering import ChatOrdering, Ticket

_log = structlog.get_logger("bot.updates")

MAX_LOGGED_UPDATE_CHARS = 2000


def ticket_for(ordering: ChatOrdering, update: Update) -> Ticket:
    """The update's place in its chat: commands and button taps are exclusive (a Done tap
    waits for the notes sent before it, like /done), everything else shared."""
    query = update.callback_query
    if query is not None:
        chat_id = query.message.chat.id if query.message is not None else None
        return ordering.issue(chat_id, update.update_id, exclusive=True)
    message = update.message
    chat_id = message.chat.id if message is not None else None
    command = bool(message and message.text and message.text.startswith("/"))
    # A group upgraded to a supergroup finalizes the open session, like /done: after the
    # notes before it are stored.
    moved = bool(message and (message.migrate_to_chat_id or message.migrate_from_chat_id))
    return ordering.issue(chat_id, update.update_id, exclusive=command or moved)


class UpdateRunner:
    """Handles updates concurrently, each at most once per journal, in per-chat order."""

    def __init__(
        self, bot: Bot, dispatcher: Dispatcher, ordering: ChatOrdering, journal: UpdateJournal
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.ordering = ordering
        self.journal = journal
        self.in_flight: dict[int, asyncio.Task[None]] = {}

    def parse(self, raw: Any) -> Update | None:
        """``raw`` as an Update; an update the client cannot parse (a poison update) is
        logged with its JSON and recorded as handled, so nobody is stuck behind it."""
        try:
            return Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as exc:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if isinstance(update_id, int) and (
                update_id in self.in_flight or self.journal.is_handled(update_id)
            ):
                return None  # logged when it first came
            _log.error(
                "update_unparseable",
                update_id=update_id,
                update=json.dumps(raw, default=str)[:MAX_LOGGED_UPDATE_CHARS],
                error=str(exc).splitlines()[0],
                problems=[".".join(map(str, e["loc"])) for e in exc.errors()][:5],
            )
            if isinstance(update_id, int):
                self.journal.mark(update_id)
                task = asyncio.create_task(self.journal.record(update_id))
                self.in_flight[update_id] = task
                task.add_done_callback(lambda _: self.in_flight.pop(update_id, None))
            return None

    def accept(self, update: Update) -> asyncio.Task[None] | None:
        """Start handling ``update``; its task, the one already running if it is in flight,
        or None when it was handled before. Call in arrival order, with no await between
        calls: that order is each chat's order."""
        uid = update.update_id
        running = self.in_flight.get(uid)
        if running is not None and not running.done():
            return running
        if self.journal.is_handled(uid):
            return None
        if self.journal.is_reset(uid):
            _log.warning("update_id_reset", update_id=uid, highest_handled=self.journal.highest)
            self.journal.follow_reset(uid)
        ticket = ticket_for(self.ordering, update)
        task = asyncio.create_task(self._handle(update, ticket), name=f"update-{uid}")
        self.in_flight[uid] = task
        return task

    def lowest_in_flight(self) -> int | None:
        """The lowest update not finished (running, or cut off): nothing from it on may be
        confirmed to Telegram."""
        return min(self.in_flight, default=None)

    async def _handle(self, update: Update, ticket: Ticket) -> None:
        uid = update.update_id
        try:
            await self.dispatcher.feed_update(self.bot, update, ticket=ticket)
        except Exception:
            # Logged, not raised: the update counts as handled, so a bug cannot make
            # Telegram redeliver it forever.
            _log.exception("update_failed", update_id=uid)
        finally:
            self.ordering.finish(ticket)
        # Cut off (cancelled) above, an update stays in in_flight, so it is never confirmed.
        self.journal.mark(uid)  # a poll answered meanwhile must skip it
        try:
            await self.journal.record(uid)
        finally:
            # Only now: while its journal write is pending, the update is not confirmed to
            # Telegram, and a drain at shutdown waits for the write too.
            self.in_flight.pop(uid, None)

    async def drain(self, grace_seconds: float) -> None:
        """Give updates in flight ``grace_seconds``, then cut the rest off unrecorded (they
        come again)."""
        if not self.in_flight:
            return
        tasks = set(self.in_flight.values())
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            _log.warning("updates_cut_off", count=len(pending))
