"""Each session's one message, from its first note to its transcript.

Each stored note gets a reaction (no reply of its own), and each open session has one
message, sent with its first note and edited as the session changes: how many notes and how
long, the newest note live transcription has finished, and the Done button. Once the
session is finalized the same message shows how many notes are left to transcribe, and the
notifier settles it (:meth:`CollectingStatus.settle`) when the transcript goes out: one
/done, one flow of messages. Edits are throttled
(:class:`~bot.services.live_message.LiveMessage`). When the session is cancelled or deleted,
the message says so and loses its button.

A note that could not be stored is not this module's business: it gets its own reply.
The message is a courtesy on top of what is stored: a failure to send or edit it is logged
and changes nothing about the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup, ReactionTypeEmoji

from bot import texts
from bot.callbacks import done_keyboard
from bot.i18n import ChatSpeech, in_chat
from bot.services.live_message import EDIT_INTERVAL_SECONDS, LiveMessage
from bot.services.parts import was_cancelled
from sessions import (
    EntryRemoved,
    EntryStatusChanged,
    Session,
    SessionDeleted,
    SessionManager,
    SessionState,
    StateChanged,
    TranscriptionStatus,
)

_log = structlog.get_logger("bot.collecting")

# One of the emoji Telegram accepts as a reaction (any other is refused): "writing it down".
STORED_REACTION = "\u270d"


@dataclass
class _View:
    """What the collecting message of a session should show now."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    final: bool = False  # the session no longer collects: show it now, then let go


@dataclass
class _Open:
    message: LiveMessage
    dirty: bool = False
    refresher: asyncio.Task[None] | None = None
    settled: bool = False  # its last text is shown: no refresh may overwrite it


class CollectingStatus:
    """The reactions and the one collecting message per open session, in this process."""

    def __init__(
        self,
        bot: Bot,
        manager: SessionManager,
        *,
        edit_interval: float = EDIT_INTERVAL_SECONDS,
        reaction: str = STORED_REACTION,
        speech: ChatSpeech | None = None,
    ) -> None:
        self._bot = bot
        self._speech = speech  # each chat's language: the message is edited outside updates
        self._manager = manager
        self._edit_interval = edit_interval
        self._reaction = reaction
        self._open: dict[str, _Open] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def holds(self, session_id: str) -> bool:
        """Whether the chat shows a message of this session that this process can edit."""
        state = self._open.get(session_id)
        return state is not None and state.message.message_id is not None

    async def settle(self, session_id: str, text: str) -> bool:
        """Show ``text`` in the session's message for good (its transcript goes out, or
        why there is none) and let the message go; whether the chat shows it (False: no
        message of the session here, or Telegram refused the edit)."""
        state = self._open.pop(session_id, None)
        if state is None:
            return False
        state.settled = True
        refresher = state.refresher
        if refresher is not None and refresher is not asyncio.current_task():
            refresher.cancel()  # an older read must not land after the final text
        return await state.message.finish(text)

    def attach(self) -> None:
        """Follow the sessions' events: a note removed or transcribed, the session ended."""
        bus = self._manager.events
        self._unsubscribe = [
            bus.subscribe(self._on_entry_removed, EntryRemoved),
            bus.subscribe(self._on_entry_status, EntryStatusChanged),
            bus.subscribe(self._on_state_changed, StateChanged),
            bus.subscribe(self._on_deleted, SessionDeleted),
        ]

    async def stop(self) -> None:
        """Stop following events and drop the edits still waiting (they are courtesies)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Until no edit is waiting or under way (for tests)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    async def note_stored(self, chat_id: int, message_id: int, session: Session) -> None:
        """Acknowledge a note just stored in ``session``: react to its message, then send
        the session's collecting message (its first note) or have it edited (later ones).
        Returns once the reaction and a new message are sent; edits follow in the
        background."""
        # Known before anything awaits, so that an event meanwhile (the note transcribed
        # live already) finds the message and brings it up to date once it is sent.
        state = self._open.get(session.session_id)
        if state is None:
            state = _Open(LiveMessage(self._bot, chat_id, self._edit_interval))
            self._open[session.session_id] = state
        await self._react(chat_id, message_id)
        view = await self._view(session)
        if view is None:  # (never: the session just took this note) nothing to show
            return
        try:
            sent = await state.message.send(view.text, view.markup, quiet=True)
        except TelegramAPIError as exc:
            _log.warning("collecting_message_failed", chat_id=chat_id, error=exc.message)
            if self._open.get(session.session_id) is state and state.message.message_id is None:
                self._open.pop(session.session_id)  # the next note tries again
            return
        if not sent:
            self._refresh_soon(session.session_id)

    # -- events --------------------------------------------------------------------------

    async def _on_entry_removed(self, event: EntryRemoved) -> None:
        self._refresh_soon(event.session_id)

    async def _on_entry_status(self, event: EntryStatusChanged) -> None:
        # A new preview while collecting, one more note done after /done.
        if event.status in (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED):
            self._refresh_soon(event.session_id)

    async def _on_state_changed(self, event: StateChanged) -> None:
        if event.from_state is SessionState.COLLECTING:
            self._refresh_soon(event.session_id)

    async def _on_deleted(self, event: SessionDeleted) -> None:
        self._refresh_soon(event.session_id)

    # -- the message ---------------------------------------------------------------------

    def _refresh_soon(self, session_id: str) -> None:
        """Bring the session's message up to date: one refresher per session reads the
        session and edits, again while something changed meanwhile (so the newest state
        wins, never an older read that happened to finish last)."""
        state = self._open.get(session_id)
        if state is None:  # no message of this session in this process
            return
        state.dirty = True
        if state.refresher is None or state.refresher.done():
            state.refresher = self._spawn(self._refresh(session_id, state))

    async def _refresh(self, session_id: str, state: _Open) -> None:
        while state.dirty and not state.settled:
            await state.message.due()  # read the session only when it can be shown
            state.dirty = False
            session = await self._manager.get_session(session_id)
            with in_chat(self._speech, state.message.chat_id):
                view = await self._view(session)
            if view is None or state.settled:  # the notifier has the last word
                return
            if view.final:
                self._open.pop(session_id, None)
                await state.message.finish(view.text, view.markup)
                return
            await state.message.update(view.text, view.markup)

    async def _view(self, session: Session | None) -> _View | None:
        """What the message should show now; None: leave it as it is (the session's
        outcome is the notifier's to show, see :meth:`settle`)."""
        if session is None:
            return _View(texts.COLLECTING_DELETED, final=True)
        count, total = len(session.audio_entries), session.total_duration_seconds
        if session.state is not SessionState.COLLECTING:
            if was_cancelled(session):
                return _View(texts.COLLECTING_CANCELLED, final=True)
            if session.state is not SessionState.TRANSCRIBING:
                return None
            finished = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
            done = sum(e.transcription_status in finished for e in session.audio_entries)
            return _View(texts.transcribing(count, done) if done < count else texts.FINISHED)
        if not count:
            return _View(texts.COLLECTING_EMPTY)
        preview = await self._preview(session)
        return _View(texts.collecting(count, total, preview), done_keyboard(session.session_id))

    async def _preview(self, session: Session) -> tuple[int, str] | None:
        """The newest note with a transcript: its number and text (None: none yet)."""
        completed = TranscriptionStatus.COMPLETED
        done = [e for e in session.audio_entries if e.transcription_status is completed]
        if not done:
            return None
        newest = max(done, key=lambda e: e.sequence)
        folder = self._manager.folder(session.session_id)
        text = await asyncio.to_thread(
            folder.read_transcript_text, newest.sequence, newest.transcript_filename
        )
        return None if text is None else (newest.sequence, text)

    async def note_removed(self, chat_id: int, message_id: int | None) -> None:
        """Take back the reaction of a note removed from its session (/undo): the chat no
        longer shows it as stored."""
        if message_id is None:  # a note recorded by another tool: no message to react to
            return
        try:
            await self._bot.set_message_reaction(chat_id, message_id, reaction=[])
        except TelegramAPIError as exc:  # deleted meanwhile, or reactions off
            _log.info("reaction_failed", chat_id=chat_id, error=exc.message)

    async def _react(self, chat_id: int, message_id: int) -> None:
        try:
            await self._bot.set_message_reaction(
                chat_id, message_id, reaction=[ReactionTypeEmoji(emoji=self._reaction)]
            )
        except TelegramAPIError as exc:  # reactions off in this chat: the message still says
            _log.info("reaction_failed", chat_id=chat_id, error=exc.message)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("collecting_task_failed", error=repr(task.exception()))
