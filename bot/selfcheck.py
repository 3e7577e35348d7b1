"""``python -m bot check``: a newcomer's self-check, one plain line per part.

Checked, in order: the data folder can be written, the Whisper model loads (where the bot
loads it), with ``DIARIZATION=true`` the diarizer loads (its extra installed), the Bot API
answers and accepts ``BOT_TOKEN`` (one getMe, no retries). Each line starts with ``ok`` or
``FAIL``; the exit status is 0 when every part is ok, else 1. Nothing is sent to any chat,
and no update is fetched (a running bot is not disturbed).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import TextIO

from bot.config import Settings
from transcription.settings import TranscriptionSettings

GETME_TIMEOUT_SECONDS = 15


class Report:
    """The check's lines, written as each part is known."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.failed = False

    def ok(self, part: str, text: str) -> None:
        self._line("ok  ", part, text)

    def fail(self, part: str, text: str) -> None:
        self.failed = True
        self._line("FAIL", part, text)

    def _line(self, mark: str, part: str, text: str) -> None:
        print(f"{mark}  {part}: {text}", file=self._out, flush=True)


async def run_check(settings: Settings, out: TextIO) -> int:
    """Check each part, write one line for each, and return the exit status."""
    report = Report(out)
    await asyncio.to_thread(_check_storage, settings, report)
    await _check_model(settings, report)
    await check_speaker_turns(settings.transcription, report)
    await _check_telegram(settings, report)
    print("all good: start the bot" if not report.failed else "see FAIL above", file=out)
    return 1 if report.failed else 0


def _check_storage(settings: Settings, report: Report) -> None:
    folder = settings.sessions.base_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        report.fail("data folder", f"cannot write {folder} (SESSIONS_DIR): {exc.strerror or exc}")
        return
    report.ok("data folder", f"{folder} is writable")


async def _check_model(settings: Settings, report: Report) -> None:
    transcription = settings.transcription
    if transcription.transcription_backend == "taskiq":
        report.ok("model", "loaded by the workers (TRANSCRIPTION_BACKEND=taskiq), not here")
        return
    from transcription.engine import ModelLoadError, WhisperTranscriber

    whisper = WhisperTranscriber(transcription)
    started = time.monotonic()
    try:
        await whisper.start()
    except ModelLoadError as exc:
        report.fail("model", str(exc))
        return
    finally:
        await whisper.aclose()
    seconds = time.monotonic() - started
    name = transcription.whisper_model or "the bundled tiny.en"
    report.ok(
        "model",
        f"{name} loads ({seconds:.1f} s, {whisper.device}, {whisper.cpu_threads} threads)",
    )


async def check_speaker_turns(transcription: TranscriptionSettings, report: Report) -> None:
    """With ``DIARIZATION=true``: whether the diarizer loads here, as the bot loads it (its
    reason in one line if not, e.g. the ``diarization`` extra not installed). No line when
    diarization is off."""
    if not transcription.diarization:
        return
    if transcription.transcription_backend == "taskiq":
        report.ok("speaker turns", "diarized by the workers (TRANSCRIPTION_BACKEND=taskiq)")
        return
    from transcription.speaker_turns import SpeakerTurns

    turns = SpeakerTurns()
    started = time.monotonic()
    if await asyncio.to_thread(turns.diarizer) is None:
        report.fail(
            "speaker turns",
            f"DIARIZATION=true, but the diarizer does not load: {turns.unavailable}",
        )
        return
    report.ok("speaker turns", f"the diarizer loads ({time.monotonic() - started:.1f} s)")


async def _check_telegram(settings: Settings, report: Report) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.exceptions import (
        ClientDecodeError,
        TelegramAPIError,
        TelegramNetworkError,
        TelegramServerError,
        TelegramUnauthorizedError,
    )

    from bot.startup import api_base
    from bot.updates.connect import describe_error

    api = api_base(settings.bot)
    session = AiohttpSession(api=TelegramAPIServer.from_base(api))
    bot = Bot(settings.bot.bot_token.get_secret_value(), session=session)
    try:
        me = await bot.get_me(request_timeout=GETME_TIMEOUT_SECONDS)
    except TelegramUnauthorizedError:
        report.ok("Bot API", f"{api} answers")
        report.fail("token", "Telegram refused BOT_TOKEN: take the token @BotFather gave")
        return
    except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
        # No answer, or not the Bot API's: network, DNS, timeout, a 5xx, a proxy's page.
        report.fail("Bot API", f"no answer from {api}: {describe_error(exc)}")
        report.fail("token", "not checked (the Bot API did not answer)")
        return
    except TelegramAPIError as exc:  # it answered, with something other than the bot
        report.ok("Bot API", f"{api} answers")
        report.fail("token", f"getMe failed: {describe_error(exc)}")
        return
    finally:
        await session.close()
    report.ok("Bot API", f"{api} answers")
    report.ok("token", f"accepted: the bot is @{me.username} (id {me.id})")
