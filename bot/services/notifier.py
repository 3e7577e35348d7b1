"""Tells the chat how its session is going, and delivers the transcript and the outputs.

Listens on the session event bus. A finalized session's progress shows in its collecting
message (:class:`~bot.services.collecting.CollectingStatus`), and the notifier settles that
message when the transcript goes out; only a session without one in this process (after a
restart, say) gets a progress message of its own, and only while notes are left to wait
for. Either way the chat shows "typing" while notes are left. A TRANSCRIBED (or failed)
session gets its transcript (HTML, times in the owner's time zone, every note in its place,
split at note boundaries), plus a ``.txt`` document when it does not fit in one message;
once processing has ended, the processor's files (or its failure). Every message goes through the
:class:`~bot.services.delivery.Courier`, which records each one that arrived and retries
transient failures in this process, so delivery finishes and a restart re-sends nothing that
arrived. ``delivered_at`` and ``outputs_delivered_at`` mark the end of each delivery;
sessions left undelivered are delivered at start-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

import structlog
from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError

from bot import texts
from bot.i18n import ChatSpeech, in_chat
from bot.services.collecting import CollectingStatus
from bot.services.delivery import Courier, Part, RetryPolicy, Sleep
from bot.services.live_message import EDIT_INTERVAL_SECONDS, LiveMessage
from bot.services.parts import (
    OUTPUTS,
    TRANSCRIPT,
    output_parts,
    processing_ended,
    transcript_parts,
    was_cancelled,
)
from sessions import (
    EntryStatusChanged,
    KeyedLocks,
    Session,
    SessionFinalized,
    SessionManager,
    SessionState,
    StateChanged,
    TranscriptionStatus,
)

_log = structlog.get_logger("bot.notifier")
TYPING_SECONDS = 5.0  # how long Telegram shows a chat action


@dataclass
class _Status:
    chat_id: int
    entry_count: int
    message: LiveMessage | None  # a progress message of its own (no collecting message)
    last_typing: float = -TYPING_SECONDS


class Notifier:
    """Progress messages and transcript delivery, driven by session events."""

    def __init__(
        self,
        bot: Bot,
        manager: SessionManager,
        *,
        edit_interval: float = EDIT_INTERVAL_SECONDS,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        zone: tzinfo = UTC,
        courier: Courier | None = None,
        note_buttons: bool = False,
        collecting: CollectingStatus | None = None,
        speech: ChatSpeech | None = None,
    ) -> None:
        self._bot = bot
        self._speech = speech  # each chat's language, for what is sent outside an update
        self._collecting = collecting  # the sessions' own messages, which show progress
        self._note_buttons = note_buttons  # Summary / Clean text / To-dos under transcripts
        self._zone = zone  # the owner's time zone, for the times in the transcript
        self._manager = manager
        self._courier = courier or Courier(bot, manager, retry=retry, sleep=sleep)
        self._edit_interval = edit_interval
        self._status: dict[str, _Status] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._delivering = KeyedLocks()  # one delivery per session at a time
        self._unsubscribe: list[Callable[[], None]] = []

    def attach(self) -> None:
        bus = self._manager.events
        self._unsubscribe = [
            bus.subscribe(self._on_finalized, SessionFinalized),
            bus.subscribe(self._on_entry_status, EntryStatusChanged),
            bus.subscribe(self._on_state_changed, StateChanged),
        ]

    async def resume(self) -> None:
        """Deliver whatever finished while the bot was down: transcripts, then outputs."""
        finished = await self._manager.sessions_in_states(
            SessionState.TRANSCRIBED,
            SessionState.PROCESSING,
            SessionState.PROCESSED,
            SessionState.ERROR,
        )
        for session in finished:
            outputs_due = session.outputs_delivered_at is None and processing_ended(session)
            if session.delivered_at is None or outputs_due:
                self._spawn(self.deliver(session.session_id))

    async def stop(self, grace_seconds: float = 3.0) -> None:
        """Let deliveries under way finish for a moment, then cancel the rest."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)

    # -- events ------------------------------------------------------------------------------

    async def _on_finalized(self, event: SessionFinalized) -> None:
        count = event.entry_count
        if count == 0:
            return
        # With live transcription most notes are usually done already.
        session = await self._manager.get_session(event.session_id)
        finished = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
        entries = session.audio_entries if session is not None else []
        done = sum(e.transcription_status in finished for e in entries)
        own = self._collecting is None or not self._collecting.holds(event.session_id)
        message = None
        if own and done < count:  # no session message to show progress in, and a wait
            message = LiveMessage(self._bot, event.chat_id, self._edit_interval)
        status = _Status(event.chat_id, count, message)
        status = self._status.setdefault(event.session_id, status)
        if status.message is not None:
            with in_chat(self._speech, event.chat_id):
                text = texts.transcribing(count, done)
            self._spawn(self._send_status(status.message, text))
        if done < count:
            self._spawn(self._typing(status))

    async def _on_entry_status(self, event: EntryStatusChanged) -> None:
        status = self._status.get(event.session_id)
        finished = (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
        if status is None or event.status not in finished:
            return
        if status.message is not None and event.done < status.entry_count:
            with in_chat(self._speech, status.chat_id):
                text = texts.transcribing(status.entry_count, event.done)
            self._spawn(self._edit_throttled(status.message, text))
        if event.done < status.entry_count:
            self._spawn(self._typing(status))

    async def _on_state_changed(self, event: StateChanged) -> None:
        finished = (SessionState.TRANSCRIBED, SessionState.PROCESSED, SessionState.ERROR)
        if event.to_state in finished:
            self._spawn(self.deliver(event.session_id))

    # -- status message ------------------------------------------------------------------

    async def _send_status(self, message: LiveMessage, text: str) -> None:
        await message.send(text)

    async def _typing(self, status: _Status) -> None:
        """Show "typing" in the chat while the last notes are transcribed (at most once
        per the seconds Telegram shows it); a courtesy, so a failure changes nothing."""
        now = time.monotonic()
        if now - status.last_typing < TYPING_SECONDS:
            return
        status.last_typing = now
        try:
            await self._bot.send_chat_action(status.chat_id, ChatAction.TYPING)
        except TelegramAPIError as exc:
            _log.debug("chat_action_failed", chat_id=status.chat_id, error=exc.message)

    async def _edit_throttled(self, message: LiveMessage, text: str) -> None:
        await message.update(text)

    # -- delivery ------------------------------------------------------------------------

    async def deliver(self, session_id: str) -> None:
        """Deliver what is due and not yet delivered: the transcript (or the session's
        failure), then, once processing has ended, its files (or its failure). Idempotent:
        parts recorded as sent are not sent again."""
        async with self._delivering.hold(session_id):
            session = await self._manager.require_session(session_id)
            with in_chat(self._speech, session.chat_id):
                await self._deliver_due(session)

    async def _deliver_due(self, session: Session) -> None:
        session_id = session.session_id
        if session.delivered_at is None:
            await self._deliver_transcript(session)
            self._status.pop(session_id, None)
            session = await self._manager.require_session(session_id)
        if session.outputs_delivered_at is None and processing_ended(session):
            await self._deliver_outputs(session)

    async def _deliver_transcript(self, session: Session) -> None:
        started = time.perf_counter()
        # An empty session is closed quietly, and so is one the chat discarded (/cancel).
        if session.audio_entries and not was_cancelled(session):
            status = self._status.get(session.session_id)
            if session.transcribed_at is None:
                # By what transcription achieved, not the state now: a processor may already
                # have moved the session on (or failed) by the time this runs.
                part = Part(f"{TRANSCRIPT}/failed", text=texts.session_failed(session))
                said = session.delivery.done(part.key)
                if not said and await self._settle(session.session_id, status, part.text or ""):
                    await self._manager.record_delivery(session.session_id, part.key)
                else:  # no message to say it in (a restart), or it could not be edited
                    await self._courier.send_all(session, [part])
            else:
                await self._settle(session.session_id, status, texts.FINISHED)
                parts = await transcript_parts(
                    self._manager, session, self._zone, note_buttons=self._note_buttons
                )
                await self._courier.send_all(session, parts)
        done = await self._manager.mark_delivered(session.session_id)
        _log.info(
            "transcript_delivered",
            session_id=session.session_id,
            chat_id=session.chat_id,
            state=session.state.value,
            refused=sorted(k for k in done.delivery.refused if k.startswith(TRANSCRIPT)),
            seconds=round(time.perf_counter() - started, 3),
        )

    async def _deliver_outputs(self, session: Session) -> None:
        await self._courier.send_all(session, await output_parts(self._manager, session))
        done = await self._manager.mark_outputs_delivered(session.session_id)
        _log.info(
            "outputs_delivered",
            session_id=session.session_id,
            state=session.state.value,
            refused=sorted(k for k in done.delivery.refused if k.startswith(OUTPUTS)),
        )

    async def _settle(self, session_id: str, status: _Status | None, text: str) -> bool:
        """Put the final text in the session's message (its collecting message, else the
        progress message of its own); whether the chat now shows it."""
        if self._collecting is not None and await self._collecting.settle(session_id, text):
            return True
        if status is None or status.message is None:
            return False
        return await status.message.finish(text)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("notifier_task_failed", error=repr(task.exception()))
