"""The bot's start: what the first poll waits for, and what is done after it.

The first poll needs only who the bot is (getMe), no webhook, and the dispatcher with its
stores. The Whisper model loads meanwhile in the background: a note that arrives before it
is ready is stored and waits (the transcription service starts once the model is loaded and
queues every note not yet transcribed). The command menu and the descriptions are set after
the first poll. Each step's time since the process started is logged with ``ready``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from aiogram import Bot
from aiogram.types import BotCommand, User

from bot import texts
from bot.config import BotSettings
from bot.i18n import DEFAULT_LOCALE, build_i18n, locales, speaking
from bot.services.language import LanguageSupport
from bot.updates.connect import until_answered
from transcription import Transcriber, TranscriptionSettings
from transcription.engine import (
    ModelLoadError,
    WhisperTranscriber,
    bundled_model_path,
)
from transcription.languages import english_only_model
from transcription.speaker_turns import SpeakerTurns

_log = structlog.get_logger("bot")

CLOUD_API = "https://api.telegram.org"


@dataclass
class StartupClock:
    """Seconds from the process's start to each step of the bot's start."""

    began: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, step: str) -> None:
        """Note that ``step`` is done now (the first time only)."""
        self.marks.setdefault(step, round(time.monotonic() - self.began, 2))


async def start_transcriber(settings: TranscriptionSettings) -> Transcriber:
    """The model in this process (local, not loaded yet: see ``ModelLoading``), or jobs for
    workers through Redis (taskiq)."""
    if settings.transcription_backend == "taskiq":
        # Imported only here: taskiq and redis are for the queue's deployments alone.
        from transcription.jobs import redact_url
        from transcription.queue import QueueTranscriber

        queue = QueueTranscriber(settings)
        await queue.start()
        _log.info("transcription_backend", backend="taskiq", redis=redact_url(settings.redis_url))
        return queue
    return WhisperTranscriber(settings, speaker_turns_for(settings))


def speaker_turns_for(settings: TranscriptionSettings) -> SpeakerTurns | None:
    """The diarizer of this process when the owner enabled ``DIARIZATION``, on one BLAS
    thread whatever Whisper's count (``DIARIZER_THREADS``: more made it dozens of times
    slower). Not loaded yet: see :meth:`SpeakerTurns.diarizer`."""
    if not settings.diarization:
        return None
    return SpeakerTurns()


def language_support(settings: TranscriptionSettings, transcriber: Transcriber) -> LanguageSupport:
    """What /lang may offer: a model loaded here says whether it knows other languages;
    the workers' model is judged by its name or folder (see ``english_only_model``)."""
    multilingual = (
        transcriber.is_multilingual if isinstance(transcriber, WhisperTranscriber) else None
    )
    if multilingual is None:
        try:
            bundled = bundled_model_path() if settings.whisper_model is None else None
        except ModelLoadError:
            bundled = None
        multilingual = not english_only_model(settings.whisper_model, bundled)
    return LanguageSupport(multilingual=multilingual, default_language=settings.whisper_language)


async def connect(settings: BotSettings, bot: Bot, stopping: asyncio.Event) -> User | None:
    """Who the bot is (getMe), with polling set up (no webhook); each tried until Telegram
    answers. None when a stop came first; raises for a refused token. The command menu and
    descriptions are set after the first poll (``describe_bot``)."""
    api = api_base(settings)
    me = await until_answered(bot.get_me, what="getMe", api=api, stopping=stopping)
    if me is None:
        return None
    _log.info("bot_connected", username=me.username, bot_id=me.id, api=api)
    if not settings.webhook_url:  # long polling only works with no webhook set
        dropped = await until_answered(
            lambda: bot.delete_webhook(drop_pending_updates=False),
            what="deleteWebhook",
            api=api,
            stopping=stopping,
        )
        if dropped is None:
            return None
    return me


def api_base(settings: BotSettings) -> str:
    """The Bot API's base URL, for log lines: never with the token."""
    return (settings.telegram_api_url or CLOUD_API).rstrip("/")


class ModelLoading:
    """The Whisper model loading in the background, from the moment this is made. A model
    that cannot load stops the bot (``stop`` is set, and :meth:`raise_failure` raises the
    ModelLoadError): nothing is transcribed, and the notes stored meanwhile wait on disk for
    a start with a model that loads."""

    def __init__(
        self, transcriber: WhisperTranscriber, stop: asyncio.Event, clock: StartupClock
    ) -> None:
        self._transcriber = transcriber
        self._stop = stop
        self._clock = clock
        self.failure: ModelLoadError | None = None
        self._task = asyncio.create_task(self._load(), name="model-loading")

    async def _load(self) -> bool:
        try:
            await self._transcriber.start()
        except ModelLoadError as exc:
            self.failure = exc
            self._stop.set()
            return False
        self._clock.mark("model")
        _log.info("model_ready", since_start_seconds=self._clock.marks["model"])
        return True

    async def wait(self) -> bool:
        """Until the model is loaded (True) or cannot be (False)."""
        return await asyncio.shield(self._task)

    def raise_failure(self) -> None:
        """Raise the ModelLoadError that stopped the bot, if one did."""
        if self.failure is not None:
            raise self.failure

    async def stop(self) -> None:
        """Stop waiting for the model (at shutdown; a load under way ends in its thread)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def after_model(loading: ModelLoading | None, then: Callable[[], Awaitable[None]]) -> None:
    """Run ``then`` once the model is loaded (at once without a model to load here)."""
    if loading is None or await loading.wait():
        await then()


async def describe_bot(
    bot: Bot,
    stopping: asyncio.Event,
    api: str,
    *,
    multilingual: bool = True,
    speakers: bool = False,
) -> bool:
    """Set the command menu (/lang only with a ``multilingual`` model, /speakers only with
    ``speakers``: the owner's ``DIARIZATION``), the description and
    the short description, each tried until Telegram answers: in English for everyone, then
    in each language with a catalog for its speakers. False when a stop came first."""
    i18n = build_i18n()
    for locale in locales(i18n):
        with speaking(i18n, locale):
            words = _Description(
                [
                    BotCommand(command=c, description=d)
                    for c, d in texts.commands(multilingual=multilingual, speakers=speakers)
                ],
                texts.DESCRIPTION,
                texts.SHORT_DESCRIPTION,
            )
        language = None if locale == DEFAULT_LOCALE else locale  # English: everyone else's
        if not await _describe(bot, stopping, api, words, language):
            return False
    _log.info("bot_described", commands=len(words.commands), languages=locales(i18n))
    return True


@dataclass(frozen=True)
class _Description:
    commands: list[BotCommand]
    description: str
    short: str


async def _describe(
    bot: Bot, stopping: asyncio.Event, api: str, words: _Description, language: str | None
) -> bool:
    setup: list[tuple[str, Callable[[], Awaitable[bool]]]] = [
        ("setMyCommands", lambda: bot.set_my_commands(words.commands, language_code=language)),
        # What an empty chat shows before the first message: what the bot does.
        (
            "setMyDescription",
            lambda: bot.set_my_description(words.description, language_code=language),
        ),
        (
            "setMyShortDescription",
            lambda: bot.set_my_short_description(words.short, language_code=language),
        ),
    ]
    for what, call in setup:
        if await until_answered(call, what=what, api=api, stopping=stopping) is None:
            return False
    return True


class FirstPoll:
    """Called at each answered poll: at the first, logs ``ready`` with the start's steps and
    sets the command menu and descriptions in the background."""

    def __init__(self, clock: StartupClock, after: Callable[[], Awaitable[object]]) -> None:
        self._clock = clock
        self._after = after
        self.task: asyncio.Task[object] | None = None

    def __call__(self) -> None:
        if self.task is not None:
            return
        self._clock.mark("first_poll")
        _log.info("ready", **{f"{step}_seconds": s for step, s in self._clock.marks.items()})
        self.task = asyncio.create_task(_run(self._after), name="after-first-poll")

    async def stop(self) -> None:
        """Cut off what runs after the first poll (at shutdown; the next start redoes it)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


async def _run(call: Callable[[], Awaitable[object]]) -> object:
    return await call()
