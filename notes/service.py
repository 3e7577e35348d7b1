"""The written notes, made durably and in the background: the transcript never waits for them,
and a model that fails never costs the transcript.

A note asked for (after a transcript, by the chat's style; a button; a reply) is recorded as
owed in the session folder first, then queued. ``LLM_CONCURRENCY`` workers take the queue a
chat at a time in turn, write the note (:mod:`notes.writer`), store its text and record it
as written, and only then hand it to the bot (``on_ready``), which delivers it and calls
:meth:`NoteService.mark_delivered`. A note that cannot be written goes to ``on_failed`` with
a plain reason. On start, notes owed are written (once) and notes written but not delivered
are handed over again, without a new call to the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog

from notes.client import ModelClient, ModelError
from notes.prompting import Prompts
from notes.queue import FairQueue, Job
from notes.render import render_parts
from notes.settings import NoteSettings
from notes.source import TRANSCRIBED_STATES, has_transcript, read_source
from notes.state import Ledger, NoteRecord, NotesState, Stage
from notes.styles import REPLY_TITLE, TITLES, Style, chat_style
from notes.writer import Completer, Task, write_note
from runtime.redaction import error_kinds
from sessions import SessionManager
from sessions.errors import SessionNotFoundError
from sessions.events import Delivered, NotesChanged, SessionDeleted
from sessions.note_files import is_note_key

TRANSCRIPT_GONE = "the session's transcript is no longer there"
WENT_WRONG = "something went wrong on the bot's side"

_OWED = frozenset({Stage.OWED})

_log = structlog.get_logger("notes.service")


@dataclass(frozen=True)
class WrittenNote:
    session_id: str
    key: str  # "clean" | "summary" | "todo" | "minutes" | "custom" | "reply-<n>"
    style: Style | None  # None for a reply instruction
    title: str  # plain text, for the header ("Summary", "Clean text", ...)
    markdown: str  # the model's output, as stored (untrusted!)
    html_parts: list[str]  # Telegram HTML, allowed tags only, each part <= 4096 chars


@dataclass(frozen=True)
class NoteFailure:
    session_id: str
    key: str
    reason: str  # plain, for people ("the language model did not answer")


NoteReady = Callable[[WrittenNote], Awaitable[None]]
NoteFailed = Callable[[NoteFailure], Awaitable[None]]


class NoTranscriptError(LookupError):
    """The session has no transcript to write a note from (not transcribed yet, or failed)."""


class NoteService:
    """Writes, stores and hands over a session's notes; see the module's docstring."""

    def __init__(
        self,
        manager: SessionManager,
        settings: NoteSettings,
        *,
        model: Completer | None = None,
    ) -> None:
        self._manager = manager
        self._settings = settings
        self._own_client = ModelClient(settings) if model is None else None
        self._model: Completer = model or self._own_client  # type: ignore[assignment]
        self._prompts = Prompts(settings.llm_prompts_dir)
        self._queue = FairQueue()
        self._busy: set[tuple[str, str]] = set()  # queued or being written
        self._ledger = Ledger(manager)
        self._ready: NoteReady | None = None
        self._failed: NoteFailed | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    def on_ready(self, deliver: NoteReady) -> None:
        self._ready = deliver

    def on_failed(self, report: NoteFailed) -> None:
        self._failed = report

    # -- life ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the sessions' events, resume what a stop left, and start the workers."""
        events = self._manager.events
        self._unsubscribe = [
            events.subscribe(self._on_delivered, Delivered),
            events.subscribe(self._on_deleted, SessionDeleted),
        ]
        await self._resume()
        self._workers = [
            asyncio.create_task(self._work(), name=f"notes-worker-{n}")
            for n in range(self._settings.llm_concurrency)
        ]

    async def stop(self) -> None:
        """Stop the workers and deliveries; what they were doing stays owed or written."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        running = [*self._workers, *self._tasks]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        self._workers.clear()
        if self._own_client is not None:
            await self._own_client.close()

    # -- asking ----------------------------------------------------------------------------

    async def request(
        self,
        session_id: str,
        style: Style,
        *,
        instruction: str | None = None,
        key: str | None = None,
    ) -> WrittenNote | None:
        """The stored note for ``key`` (default: the style's name) at once, with no model
        call; otherwise the note is recorded as owed, queued, and None returned: it arrives
        through ``on_ready`` (or ``on_failed``). CUSTOM needs ``instruction``.

        SessionNotFoundError when the session is gone, NoTranscriptError when it has no
        transcript, ValueError for a key that is not a plain name."""
        if style is Style.CUSTOM and not instruction:
            raise ValueError("a custom note needs an instruction")
        key = _checked(key or style.value)
        record = NoteRecord(
            stage=Stage.OWED,
            prompt=style.value,
            style=style.value,
            instruction=instruction if style is Style.CUSTOM else None,
        )
        return await self._ask(session_id, key, record)

    async def request_reply(self, session_id: str, instruction: str, *, reply_to: int) -> None:
        """The model's answer to ``instruction`` ("shorter") for the session, as note
        ``reply-<reply_to>``, made like any note; asked again, a stored answer is handed
        over again."""
        instruction = instruction.strip()
        if not instruction:
            raise ValueError("a reply needs an instruction")
        record = NoteRecord(stage=Stage.OWED, prompt="reply", instruction=instruction[:2000])
        note = await self._ask(session_id, _checked(f"reply-{reply_to}"), record)
        if note is not None:
            self._spawn(self._hand_over(note))

    async def mark_delivered(self, session_id: str, key: str) -> None:
        """The bot delivered note ``key``: a restart does not hand it over again."""
        await self._ledger.move(session_id, key, Stage.DELIVERED, frozenset({Stage.WRITTEN}))

    async def stored(self, session_id: str, key: str) -> WrittenNote | None:
        """Note ``key`` of the session as stored, or None (read off the event loop)."""
        if not is_note_key(key):
            return None
        folder = self._manager.folder(session_id)
        state, text = await asyncio.to_thread(
            lambda: (folder.read_notes_state(), folder.read_note(key))
        )
        record = NotesState.from_stored(state, session_id).notes.get(key)
        if text is None or record is None:
            return None
        return await _note(session_id, key, record, text)

    async def _ask(self, session_id: str, key: str, record: NoteRecord) -> WrittenNote | None:
        session = await self._manager.get_session(session_id)
        if session is None:
            raise SessionNotFoundError(f"session {session_id} does not exist")
        if not has_transcript(session):
            raise NoTranscriptError(f"session {session_id} has no transcript")
        async with self._ledger.locks.hold(session_id):
            state = await self._ledger.load(session_id)
            known = state.notes.get(key)
            if known is not None and known.stage in (Stage.WRITTEN, Stage.DELIVERED):
                note = await self.stored(session_id, key)
                if note is not None:
                    return note
            if known is not None and known.stage is Stage.OWED and (session_id, key) in self._busy:
                return None
            state.notes[key] = record
            await self._ledger.save(session_id, state)
        await self._enqueue(Job(session.chat_id, session_id, key))
        return None

    # -- events ----------------------------------------------------------------------------

    async def _on_delivered(self, event: Delivered) -> None:
        # The transcript is out. Only recording the note as owed happens here (a settings
        # read and one small write), so a stop right after cannot lose it; the writing is
        # queued and never holds up the publisher.
        try:
            await self._automatic(event.session_id, event.chat_id)
        except Exception:
            _log.exception("automatic_note_failed", session_id=event.session_id)

    async def _automatic(self, session_id: str, chat_id: int) -> None:
        chat = await self._manager.get_chat_settings(chat_id)
        style, instruction = chat_style(chat, self._settings.llm_default_style)
        if style is None:
            return
        if style.value in (await self._ledger.load(session_id)).notes:
            return  # asked for already (a tap before the delivery was recorded)
        try:
            await self.request(session_id, style, instruction=instruction)
        except (SessionNotFoundError, NoTranscriptError) as exc:
            _log.info("automatic_note_skipped", session_id=session_id, error=type(exc).__name__)

    async def _on_deleted(self, event: SessionDeleted) -> None:
        # Its queued jobs find the session gone and end; none is asked of the model.
        self._busy = {item for item in self._busy if item[0] != event.session_id}

    # -- resuming --------------------------------------------------------------------------

    async def _resume(self) -> None:
        for session in await self._manager.sessions_in_states(*TRANSCRIBED_STATES):
            try:
                await self._resume_session(session.session_id, session.chat_id)
            except Exception:
                _log.exception("notes_resume_failed", session_id=session.session_id)

    async def _resume_session(self, session_id: str, chat_id: int) -> None:
        folder = self._manager.folder(session_id)
        async with self._ledger.locks.hold(session_id):
            state = await self._ledger.load(session_id)
            if not state.notes:
                return
            keys = set(await asyncio.to_thread(folder.note_keys))
            queued, handed = [], []
            for key, record in state.notes.items():
                if record.stage is Stage.OWED and key in keys:
                    # Stored, and the crash came before it was recorded: no second call.
                    state.notes[key] = record.moved(Stage.WRITTEN)
                    handed.append(key)
                elif record.stage is Stage.WRITTEN:
                    handed.append(key)
                elif record.stage is Stage.OWED:
                    queued.append(key)
                elif record.stage is Stage.FAILED and record.resumed < 1:
                    # The endpoint may be back: tried once more after a restart, not at each.
                    state.notes[key] = record.moved(Stage.OWED, resumed=record.resumed + 1)
                    queued.append(key)
            await self._ledger.save(session_id, state)
        _log.info("notes_resumed", session_id=session_id, owed=len(queued), written=len(handed))
        for key in queued:
            await self._enqueue(Job(chat_id, session_id, key))
        for key in handed:
            note = await self.stored(session_id, key)
            if note is not None:
                self._spawn(self._hand_over(note))

    # -- working ---------------------------------------------------------------------------

    async def _enqueue(self, job: Job) -> None:
        if (job.session_id, job.key) not in self._busy:
            self._busy.add((job.session_id, job.key))
            await self._queue.put(job)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self._write(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("note_job_failed", session_id=job.session_id, key=job.key)
            finally:
                self._busy.discard((job.session_id, job.key))

    async def _write(self, job: Job) -> None:
        log = _log.bind(session_id=job.session_id, key=job.key)
        session = await self._manager.get_session(job.session_id)
        record = (await self._ledger.load(job.session_id)).notes.get(job.key)
        if session is None or record is None or record.stage is not Stage.OWED:
            return  # deleted, forgotten, or done meanwhile
        chat = await self._manager.get_chat_settings(session.chat_id)
        folder = self._manager.folder(job.session_id)
        source = await read_source(folder, session, chat)
        if source is None:
            await self._fail(job, record, TRANSCRIPT_GONE)
            return
        state = await self._ledger.load(job.session_id)
        previous = None
        if record.prompt == "reply" and state.latest is not None:
            previous = await asyncio.to_thread(folder.read_note, state.latest)
        task = Task(prompt=record.prompt, instruction=record.instruction, previous_note=previous)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            written = await write_note(
                self._model,
                self._prompts,
                source.context,
                source.transcript,
                task,
                self._settings.llm_context_tokens,
            )
        except ModelError as exc:
            log.warning("note_not_written", reason=exc.reason)
            await self._fail(job, record, exc.reason)
            return
        except (OSError, ValueError) as exc:
            log.warning("note_not_written", error=error_kinds(exc))
            await self._fail(job, record, WENT_WRONG)
            return
        try:
            await asyncio.to_thread(folder.write_note, job.key, written.markdown)
        except FileNotFoundError:
            log.info("note_session_gone")
            return
        if not await self._ledger.move(job.session_id, job.key, Stage.WRITTEN, _OWED):
            return
        # /find searches the notes too: the library indexes the session again.
        changed = NotesChanged(session_id=job.session_id, chat_id=session.chat_id, key=job.key)
        await self._manager.events.publish(changed)
        log.info(
            "note_written",
            seconds=round(loop.time() - started, 3),
            calls=written.calls,
            rounds=written.rounds,
            prompt_tokens=written.prompt_tokens,
            completion_tokens=written.completion_tokens,
        )
        note = await _note(job.session_id, job.key, record, written.markdown)
        self._spawn(self._hand_over(note))

    async def _fail(self, job: Job, record: NoteRecord, reason: str) -> None:
        await self._ledger.move(job.session_id, job.key, Stage.FAILED, _OWED, reason)
        if self._failed is None:
            _log.warning("note_failure_unreported", session_id=job.session_id, key=job.key)
            return
        try:
            await self._failed(NoteFailure(job.session_id, job.key, reason))
        except Exception:
            _log.exception("note_failure_report_failed", session_id=job.session_id)

    async def _hand_over(self, note: WrittenNote) -> None:
        if self._ready is None:
            _log.warning("note_undelivered", session_id=note.session_id, key=note.key)
            return
        try:
            await self._ready(note)
        except Exception:  # stays written: handed over again at the next start
            _log.exception("note_delivery_failed", session_id=note.session_id, key=note.key)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _checked(key: str) -> str:
    if not is_note_key(key):
        raise ValueError(f"not a note key: {key[:50]!r}")
    return key


async def _note(session_id: str, key: str, record: NoteRecord, markdown: str) -> WrittenNote:
    try:
        style: Style | None = Style(record.style) if record.style else None
    except ValueError:
        style = None
    return WrittenNote(
        session_id=session_id,
        key=key,
        style=style,
        title=TITLES[style] if style is not None else REPLY_TITLE,
        markdown=markdown,
        # Parsing a long note takes a while: off the loop.
        html_parts=await asyncio.to_thread(render_parts, markdown),
    )


__all__ = [
    "NoTranscriptError",
    "NoteFailed",
    "NoteFailure",
    "NoteReady",
    "NoteService",
    "WrittenNote",
]
