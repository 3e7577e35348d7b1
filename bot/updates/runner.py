"""The one place updates are handled, whichever source (long polling, webhook) brought them.

The runner decides what is new (the journal), gives each update its place in its chat (a
:class:`~bot.updates.ordering.Ticket`, issued in arrival order), keeps track of what is in
flight, and records what finished: first in the journal, then (polling) out of the inbox,
and only then is the chat's turn released. An update cut off at shutdown is never recorded:
it stays in the inbox (polling) or unanswered (webhook), and is handled at the next start.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from pydantic import ValidationError

from bot.updates.inbox import UpdateInbox
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
        self,
        bot: Bot,
        dispatcher: Dispatcher,
        ordering: ChatOrdering,
        journal: UpdateJournal,
        inbox: UpdateInbox | None = None,
    ) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.ordering = ordering
        self.journal = journal
        self.inbox = inbox  # where a handled update is removed from (polling)
        self.in_flight: dict[int, asyncio.Task[None]] = {}

    def parse(self, raw: Any) -> Update | None:
        """``raw`` as an Update; an update the client cannot parse (a poison update) is
        logged with its JSON and recorded as handled, so nobody is stuck behind it."""
        try:
            return Update.model_validate(raw, context={"bot": self.bot})
        except ValidationError as exc:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if isinstance(update_id, int) and not self.is_new(update_id):
                self._let_go(update_id)
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
                self._track(update_id, self._settle(update_id))
            return None

    @property
    def bot_id(self) -> int:
        """The bot's id: the journal's, else the one in the token."""
        return self.journal.bot_id if self.journal.bot_id is not None else self.bot.id

    def take_over(self, raws: list[Any]) -> None:
        """Start handling raw updates (from the inbox, or just stored in it), in order."""
        for raw in raws:
            update = self.parse(raw)
            if update is not None:
                self.accept(update)

    def is_new(self, update_id: int) -> bool:
        """Neither in flight nor handled before: to be stored and handled."""
        running = self.in_flight.get(update_id)
        if running is not None and not running.done():
            return False
        return not self.journal.is_handled(update_id)

    def accept(self, update: Update) -> asyncio.Task[None] | None:
        """Start handling ``update``; its task, the one already running if it is in flight,
        or None when it was handled before. Call in arrival order, with no await between
        calls: that order is each chat's order."""
        uid = update.update_id
        running = self.in_flight.get(uid)
        if running is not None and not running.done():
            return running
        if not self.is_new(uid):
            self._let_go(uid)
            return None
        if self.journal.is_reset(uid):
            _log.warning("update_id_reset", update_id=uid, highest_handled=self.journal.highest)
            self.journal.follow_reset(uid)
        ticket = ticket_for(self.ordering, update)
        task = asyncio.create_task(self._handle(update, ticket), name=f"update-{uid}")
        self.in_flight[uid] = task
        return task

    def _let_go(self, update_id: int) -> None:
        """An update handled before that the inbox still holds (a crash came between its
        journal write and its removal): remove it now."""
        inbox = self.inbox
        if inbox is not None and inbox.holds(update_id) and update_id not in self.in_flight:
            self._track(update_id, inbox.remove(update_id))

    def _track(self, update_id: int, work: Coroutine[Any, Any, None]) -> None:
        """Bookkeeping of an update as a task in flight: a drain waits for it too."""
        task = asyncio.create_task(work)
        self.in_flight[update_id] = task

        def done(_: asyncio.Task[None]) -> None:
            if self.in_flight.get(update_id) is task:
                del self.in_flight[update_id]

        task.add_done_callback(done)

    async def _handle(self, update: Update, ticket: Ticket) -> None:
        uid = update.update_id
        try:
            try:
                await self.dispatcher.feed_update(self.bot, update, ticket=ticket)
            except Exception:
                # Logged, not raised: the update counts as handled, so a bug cannot make
                # it come back forever.
                _log.exception("update_failed", update_id=uid)
            # Cut off (cancelled) above, an update is never recorded: it comes again.
            self.journal.mark(uid)  # a poll answered meanwhile must skip it
            await self._settle(uid)
        finally:
            # Only now: a /done of the chat waits until this note is durably handled, or a
            # crash in between would bring the note back into the session after it.
            self.ordering.finish(ticket)
        # While its journal write is pending, the update stays in flight: a webhook answer
        # and a drain at shutdown wait for the write too.
        self.in_flight.pop(uid, None)

    async def _settle(self, update_id: int) -> None:
        """Record ``update_id`` as handled: on disk in the journal first, then out of the
        inbox, so a crash in between re-runs it from the inbox only to skip it."""
        await self.journal.record(update_id)
        if self.inbox is not None:
            await self.inbox.remove(update_id)

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
