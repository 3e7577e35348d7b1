"""The composition root: builds every part from the settings and runs them together."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.config import BotSettings
from bot.handlers import build_router
from bot.i18n import ChatLanguageMiddleware, ChatLanguages, ChatSpeech, build_i18n
from bot.middlewares.access import AccessMiddleware
from bot.middlewares.answer import AnswerEveryTap
from bot.middlewares.logging import UpdateLoggingMiddleware
from bot.middlewares.migration import FollowMigrations
from bot.middlewares.questions import OneAnswerPerQuestion
from bot.middlewares.retry import RetryMiddleware
from bot.services.collecting import CollectingStatus
from bot.services.delivery import Courier
from bot.services.ingest import IngestService
from bot.services.message_index import INDEX_PATH, MessageIndex
from bot.services.migration import ChatMigrations
from bot.services.notes import NoteDelivery
from bot.services.notifier import Notifier
from bot.startup import (
    FirstPoll,
    ModelLoading,
    StartupClock,
    after_model,
    api_base,
    connect,
    describe_bot,
    language_support,
    start_transcriber,
)
from bot.updates.journal import UpdateJournal
from bot.updates.middleware import OrderingMiddleware
from bot.updates.ordering import ChatOrdering
from bot.updates.receiving import receive_updates
from bot.updates.runner import UpdateRunner
from library.index import SessionLibrary, library_path
from library.retention import RetentionSettings, RetentionSweeper
from notes.ask import AskService
from notes.service import NoteService
from notes.settings import NoteSettings
from processing import ProcessingService, ProcessingSettings, build_processor
from sessions import (
    EventBus,
    FileSessionManager,
    FileSessionStorage,
    SessionConfig,
    SessionManager,
)
from transcription import (
    Transcriber,
    TranscriptionService,
    TranscriptionSettings,
    WhisperTranscriber,
)

_log = structlog.get_logger("bot.app")

JOURNAL_PATH = Path(".telegram") / "updates.json"  # inside SESSIONS_DIR, beside the sessions
# After SIGTERM, SHUTDOWN_GRACE_SECONDS plus this: whatever still hangs (a server that never
# answers) is cut off by exiting; nothing unconfirmed is lost, Telegram sends it again.
SHUTDOWN_SLACK_SECONDS = 3.0
STOP_SWEEP_SECONDS = 1.0


def build_bot(settings: BotSettings) -> Bot:
    """An aiogram Bot on the configured Bot API server, with retries on transient errors."""
    if settings.telegram_api_url:
        api = TelegramAPIServer.from_base(settings.telegram_api_url.rstrip("/"))
        session = AiohttpSession(api=api)
    else:
        session = AiohttpSession()
    session.middleware(RetryMiddleware())
    return Bot(settings.bot_token.get_secret_value(), session=session)


def build_dispatcher(
    settings: BotSettings,
    manager: SessionManager,
    ingest: IngestService,
    ordering: ChatOrdering,
    collecting: CollectingStatus,
    speech: ChatSpeech | None = None,
) -> Dispatcher:
    """The dispatcher, with dependencies handed to handlers as workflow data. Messages and
    button taps alike pass the access check and wait for their turn in their chat; every
    tap is answered, and a question's buttons only once. Each update is answered in its
    sender's language (``speech``: the catalogs and the chats' last-seen languages)."""
    speech = speech or ChatSpeech(build_i18n(), ChatLanguages())
    dp = Dispatcher(manager=manager, ingest=ingest, collecting=collecting, speech=speech)
    dp.update.outer_middleware(UpdateLoggingMiddleware())
    # Each update in its sender's language (the refusal of a stranger too); the chat's
    # last-seen language kept for what is sent later, outside an update.
    dp.update.outer_middleware(ChatLanguageMiddleware(speech.i18n, speech.languages))
    access = AccessMiddleware(settings.access)
    dp.message.outer_middleware(access)
    dp.callback_query.outer_middleware(access)
    dp.message.middleware(OrderingMiddleware(ordering))
    dp.callback_query.middleware(AnswerEveryTap())
    dp.callback_query.middleware(OrderingMiddleware(ordering))
    dp.callback_query.middleware(OneAnswerPerQuestion())  # in the chat's turn: taps in order
    dp.include_router(build_router())
    return dp


async def _stop_task(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Ask ``task`` to stop; cut it off if it has not within a moment (a long sweep: what
    it did not get to, the next start does)."""
    stop.set()
    _, pending = await asyncio.wait({task}, timeout=STOP_SWEEP_SECONDS)
    for late in pending:
        late.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@dataclass
class ShutdownClock:
    """Times the shutdown, from the end of receiving to the bot's own work stopped."""

    began: float | None = None

    def begin(self) -> None:
        self.began = time.monotonic()

    def report(self) -> None:
        if self.began is not None:
            seconds = round(time.monotonic() - self.began, 2)
            _log.info("bot_stopped", shutdown_seconds=seconds)


def _exit_now() -> None:
    _log.warning("shutdown_deadline_passed", action="exiting; unfinished updates come again")
    os._exit(0)


def install_stop_signals(stop_requested: asyncio.Event, deadline_seconds: float) -> None:
    """SIGTERM/SIGINT request a stop, and arm a deadline after which the process exits
    whatever still hangs."""

    def request_stop() -> None:
        if stop_requested.is_set():
            return
        stop_requested.set()
        timer = threading.Timer(deadline_seconds, _exit_now)
        timer.daemon = True
        timer.start()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)


async def run_bot(
    settings: BotSettings,
    session_config: SessionConfig,
    transcription: TranscriptionSettings,
    processing: ProcessingSettings | None = None,
    *,
    retention: RetentionSettings | None = None,
    transcriber: Transcriber | None = None,
    note_settings: NoteSettings | None = None,
    clock: StartupClock | None = None,
) -> None:
    """Run until SIGTERM or SIGINT. Raises ModelLoadError or TelegramUnauthorizedError.

    A Bot API that cannot be reached is waited for (with backoff, one line per try). The
    first poll does not wait for the Whisper model (``bot.startup``); a model that cannot
    load stops the bot with ModelLoadError, whenever that turns out."""
    clock = clock or StartupClock()
    stop_requested = asyncio.Event()
    install_stop_signals(stop_requested, settings.shutdown_grace_seconds + SHUTDOWN_SLACK_SECONDS)
    manager = FileSessionManager(
        FileSessionStorage(session_config.base_dir), session_config, EventBus()
    )
    await manager.remove_leftovers()  # before anything writes: what a crash cut off
    if transcriber is None:
        transcriber = await start_transcriber(transcription)
    # From now on, on the other core, while the Bot API is reached and the stores open.
    loading = (
        ModelLoading(transcriber, stop_requested, clock)
        if isinstance(transcriber, WhisperTranscriber)
        else None
    )
    try:
        await _serve(
            settings,
            session_config,
            transcription,
            processing or ProcessingSettings(),
            retention or RetentionSettings(),
            note_settings or NoteSettings(),
            manager=manager,
            transcriber=transcriber,
            loading=loading,
            clock=clock,
            stop_requested=stop_requested,
        )
    finally:
        if loading is not None:
            await loading.stop()
        await transcriber.aclose()  # last: every part that used it has stopped
    if loading is not None:
        loading.raise_failure()


async def _serve(
    settings: BotSettings,
    session_config: SessionConfig,
    transcription: TranscriptionSettings,
    processing: ProcessingSettings,
    retention: RetentionSettings,
    note_settings: NoteSettings,
    *,
    manager: FileSessionManager,
    transcriber: Transcriber,
    loading: ModelLoading | None,
    clock: StartupClock,
    stop_requested: asyncio.Event,
) -> None:
    """Build every part and receive updates until stop is requested."""
    # Each part's stop goes on the stack as the part starts, so every way out (a stop, a
    # failure half-way through starting) stops what started, in reverse: the transcription
    # service first (a session it finishes meanwhile still reaches the stage, and is marked
    # due in its metadata if cut off there), then the stage, the notifier, the Bot API
    # session (the transcriber after all of them, in run_bot).
    async with contextlib.AsyncExitStack() as parts:
        bot = build_bot(settings)
        parts.push_async_callback(bot.session.close)
        # Judged by the model's name until it is loaded (it loads after the first poll).
        languages = language_support(transcription, transcriber)
        me = await connect(settings, bot, stop_requested)
        if me is None:
            return  # stopped before Telegram could be reached (or the model failed)
        clock.mark("connected")
        shutdown = ShutdownClock()
        parts.callback(shutdown.report)  # once the notifier is done, before the Bot API goes

        ordering = ChatOrdering()
        ingest = IngestService(bot, manager, max_download_bytes=settings.max_download_bytes)
        ingest.attach()
        # The chats' languages: each update in its sender's, what is sent later in the
        # chat's last-seen one (in memory: after a restart English until someone writes).
        speech = ChatSpeech(build_i18n(), ChatLanguages())
        collecting = CollectingStatus(bot, manager, speech=speech)
        collecting.attach()
        parts.push_async_callback(collecting.stop)
        dp = build_dispatcher(settings, manager, ingest, ordering, collecting, speech)
        dp["processor_label"] = processing.label
        dp["retention"] = retention
        # Each message sent is remembered by session: a reply to it reaches that session.
        messages = MessageIndex(session_config.base_dir / INDEX_PATH)
        dp["messages"] = messages
        parts.callback(messages.attach(manager.events))
        courier = Courier(bot, manager, messages=messages)
        dp["courier"] = courier
        dp["note_settings"] = note_settings
        # Written notes only with a language model set up; otherwise no buttons, and /style
        # says so.
        notes = NoteService(manager, note_settings) if note_settings.enabled else None
        dp["notes"] = notes
        dp["zone"] = settings.zone  # the owner's time zone, for times shown in the chat
        # The search index follows the sessions from before the first one can be transcribed.
        # Opening never waits for a rebuild (or a locked file): that goes on in the
        # background while the bot answers, and /find says so meanwhile.
        library = SessionLibrary(library_path(session_config.base_dir), manager)
        await library.open()
        clock.mark("library")
        parts.push_async_callback(library.close)
        library.attach()
        parts.callback(library.detach)
        dp["library"] = library
        manager.use_chat_settings(library.chat_settings)  # their own file, beside the index
        # A group that became a supergroup: sends follow it, and a move cut off is finished.
        migrations = ChatMigrations(manager, library)
        bot.session.middleware(FollowMigrations(migrations))
        dp["migrations"] = migrations
        await migrations.start()
        dp["language_support"] = languages
        dp["diarization"] = transcription.diarization  # whether /speakers on may be honoured
        journal = UpdateJournal(session_config.base_dir / JOURNAL_PATH)
        await journal.load(me.id)
        runner = UpdateRunner(bot, dp, ordering, journal)

        notifier = Notifier(
            bot,
            manager,
            zone=settings.zone,
            courier=courier,
            note_buttons=notes is not None,
            collecting=collecting,
            speech=speech,
        )
        notifier.attach()
        parts.push_async_callback(notifier.stop, grace_seconds=2.0)
        if notes is not None:  # listening before a transcript can be delivered
            note_delivery = NoteDelivery(manager, courier, notes, speech)
            note_delivery.attach()
            dp["note_delivery"] = note_delivery
            parts.push_async_callback(notes.stop)
            await notes.start()
        # /ask: answers from the chat's notes (with a model), or its best passages (without).
        ask_service = AskService(manager, library, note_settings, zone=settings.zone)
        parts.push_async_callback(ask_service.stop)
        await ask_service.start()
        dp["ask_service"] = ask_service
        secrets = [
            *settings.secrets,
            *transcription.secrets,
            transcription.redis_url,
            *note_settings.secrets,
        ]
        processor = build_processor(processing, secrets=secrets)
        if processor is not None:  # listening before the service can finish a session
            stage = ProcessingService(manager, processor)
            parts.push_async_callback(stage.stop)
            await stage.start()
        service = TranscriptionService(manager, transcriber, transcription)
        parts.push_async_callback(service.stop)

        async def model_ready() -> None:
            # What the loaded model knows decides /lang; the service then queues every note
            # stored meanwhile (they waited on disk) and takes new ones as they come.
            loaded = language_support(transcription, transcriber)
            dp["language_support"] = loaded
            await service.start()
            if loaded.multilingual != languages.multilingual:  # the menu offers /lang or not
                await describe_bot(
                    bot,
                    stop_requested,
                    api_base(settings),
                    multilingual=loaded.multilingual,
                    speakers=transcription.diarization,
                )

        transcribing = asyncio.create_task(after_model(loading, model_ready))
        parts.push_async_callback(_cancel, transcribing)  # before the service's stop
        await notifier.resume()
        # Retention: a sweep now, then hourly (nothing when no retention is set).
        stop_sweeping = asyncio.Event()
        sweeping = asyncio.create_task(RetentionSweeper(manager, retention).run(stop_sweeping))
        parts.push_async_callback(_stop_task, sweeping, stop_sweeping)

        first_poll = FirstPoll(
            clock,
            lambda: describe_bot(
                bot,
                stop_requested,
                api_base(settings),
                multilingual=languages.multilingual,
                speakers=transcription.diarization,  # /speakers only where it can be on
            ),
        )
        parts.push_async_callback(first_poll.stop)
        mode = "webhook" if settings.webhook_url else "polling"
        _log.info("bot_started", sessions_dir=str(session_config.base_dir), mode=mode)
        try:
            await receive_updates(settings, runner, stop_requested, first_poll)
        finally:
            shutdown.begin()
