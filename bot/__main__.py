"""``python -m bot``: start the bot with long polling. ``python -m bot check``: the self-check.

Exit codes: 0 after a clean stop (or a check that passed), 1 when the Whisper model cannot be
loaded (or a check failed), 2 for missing or malformed settings (each one named, one line
each) or a token Telegram refuses.
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # before the imports below: the start-up clock counts them too

import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import structlog  # noqa: E402

from bot.config import InvalidSettings, Settings, load_settings  # noqa: E402
from runtime.log_setup import configure_logging  # noqa: E402

PROGRAM = "voice-notes-bot"


def _read_settings() -> Settings | None:
    try:
        return load_settings()
    except InvalidSettings as exc:
        for problem in exc.problems:
            print(f"{PROGRAM}: {problem}", file=sys.stderr)
        return None


def _what_loads(settings: Settings) -> str:
    transcription = settings.transcription
    if transcription.transcription_backend == "taskiq":
        return "the Telegram library; transcription by workers through Redis"
    model = transcription.whisper_model or "bundled tiny.en"
    return f"the Telegram library and the Whisper model ({model})"


def main(argv: list[str] | None = None) -> int:
    """Run the bot (or, with ``check``, the self-check) and return the exit code."""
    args = argv or []
    if args not in ([], ["check"]):
        print(f"usage: python -m bot [check]  (not {' '.join(args)!r})", file=sys.stderr)
        return 2
    settings = _read_settings()
    if settings is None:
        return 2
    configure_logging(
        # The check's own lines are its output: the log says only what went wrong.
        "WARNING" if args == ["check"] else settings.bot.log_level,
        settings.bot.log_format,
        secrets=[*settings.bot.secrets, *settings.transcription.secrets, *settings.notes.secrets],
    )
    if args == ["check"]:
        from bot.selfcheck import run_check

        return asyncio.run(run_check(settings, out=sys.stdout))
    # Said at once: importing the Telegram library and loading the model take seconds, and
    # a newcomer must not take that silence for a hang. "ready" follows at the first poll.
    structlog.get_logger("bot").info("starting", loading=_what_loads(settings))
    return _run(settings)


def _run(settings: Settings) -> int:
    # Imported here, after the first line: aiogram alone takes seconds to import.
    from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError

    from bot.app import run_bot
    from bot.startup import StartupClock
    from transcription.engine import ModelLoadError

    clock = StartupClock(STARTED)
    clock.mark("imports")
    try:
        asyncio.run(
            run_bot(
                settings.bot,
                settings.sessions,
                settings.transcription,
                settings.processing,
                retention=settings.retention,
                note_settings=settings.notes,
                clock=clock,
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
    code = main(sys.argv[1:])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # A transcription thread may still be inside the model; its entry stays IN_PROGRESS and
    # is redone at the next start, so do not wait for it (SIGTERM must exit within 10 s).
    os._exit(code)
