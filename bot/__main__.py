"""``python -m bot``: start the bot with long polling.

Exit codes: 0 after a clean stop, 1 when the Whisper model cannot be loaded, 2 for a
missing or malformed setting or a token Telegram refuses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError
from pydantic import ValidationError

from bot.app import run_bot
from bot.config import BotSettings
from notes.settings import NoteSettings
from processing import ProcessingSettings
from sessions import SessionConfig
from sessions.logging_setup import configure_logging
from sessions.retention import RetentionSettings
from sessions.settings import describe_invalid
from transcription import ModelLoadError, TranscriptionSettings

PROGRAM = "voice-notes-bot"


def main() -> int:
    try:
        settings = BotSettings()  # BOT_TOKEN comes from the environment
        session_config = SessionConfig()
        transcription = TranscriptionSettings()
        processing = ProcessingSettings()
        retention = RetentionSettings()
        notes = NoteSettings()
    except ValidationError as exc:
        print(f"{PROGRAM}: {describe_invalid(exc)}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=[*settings.secrets, *transcription.secrets, *notes.secrets],
    )
    try:
        asyncio.run(
            run_bot(
                settings,
                session_config,
                transcription,
                processing,
                retention=retention,
                note_settings=notes,
            )
        )
    except ModelLoadError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 1
    except TelegramUnauthorizedError:
        print(f"{PROGRAM}: Telegram refused BOT_TOKEN (unauthorized)", file=sys.stderr)
        return 2
    except TelegramBadRequest as exc:  # e.g. setWebhook refusing WEBHOOK_URL: no retry mends it
        print(
            f"{PROGRAM}: Telegram refused {exc.method.__api_method__}: {exc.message}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # A transcription thread may still be inside the model; its entry stays IN_PROGRESS and
    # is redone at the next start, so do not wait for it (SIGTERM must exit within 10 s).
    os._exit(code)
