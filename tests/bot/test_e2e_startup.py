"""End to end: the bot's first minute. It says at once that it is starting, polls before the
Whisper model is loaded, and a note sent meanwhile waits for the model and is transcribed;
``python -m bot check`` tells a newcomer in plain lines whether the parts work.

The model's load is held back for real: the test's copy of the bundled model has its
``vocabulary.txt`` as a named pipe, so loading blocks until the test writes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import texts
from tests.bot.bot_process import REPO, BotProcess
from tests.bot.test_e2e import CHAT, USER, is_text, launch, send_voice
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram
from transcription.engine import bundled_model_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HELD_FILE = "vocabulary.txt"


def held_model(folder: Path) -> Path:
    """A copy of the bundled model whose vocabulary is a named pipe: it loads only once
    :func:`release_model` writes the file."""
    folder.mkdir()
    for item in bundled_model_path().iterdir():
        if item.name != HELD_FILE and item.is_file():
            shutil.copy(item, folder / item.name)
    os.mkfifo(folder / HELD_FILE)
    return folder


async def release_model(folder: Path, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Write the held file into the pipe, once the bot is reading it (bounded wait)."""
    data = (bundled_model_path() / HELD_FILE).read_bytes()
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        try:
            fd = os.open(folder / HELD_FILE, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:  # ENXIO: nobody reads it yet
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    os.set_blocking(fd, True)
    try:
        await asyncio.to_thread(os.write, fd, data)
    finally:
        os.close(fd)


async def test_starting_then_ready_and_a_note_waits_for_the_model(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    model = held_model(tmp_path / "model")
    proc = await launch(fake, tmp_path / "bot", running, WHISPER_MODEL=str(model))
    events = proc.events()
    # Said at once, before the imports and the model: what is loading.
    assert events[0]["event"] == "starting"
    assert str(model) in events[0]["loading"]
    [ready] = [e for e in events if e["event"] == "ready"]
    assert ready["first_poll_seconds"] >= ready["connected_seconds"] > 0
    assert "model_seconds" not in ready  # polling, while the model is held back
    assert not any(e["event"] == "whisper_model_loaded" for e in proc.events())

    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)  # stored while there is no model
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, texts.transcribing(1, 0)), timeout=20)
    await asyncio.sleep(1.0)
    assert not any(c.text and "could not" in c.text for c in fake.sent)  # waiting, not failed
    assert not any(e["event"] == "whisper_model_loaded" for e in proc.events())

    await release_model(model)
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert "remember to buy" in (transcript.text or "")
    order = [e["event"] for e in proc.events()]
    assert order.index("ready") < order.index("whisper_model_loaded")


def _check(
    fake: FakeTelegram, folder: Path, token: str, api: str, **extra: str
) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))},
        "BOT_TOKEN": token,
        "TELEGRAM_API_URL": api,
        "SESSIONS_DIR": str(folder / "sessions"),
        "HF_HUB_OFFLINE": "1",
        "WHISPER_CPU_THREADS": "1",
        "PYTHONPATH": str(REPO),
        **extra,
    }
    folder.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "check"],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_self_check_says_what_works_in_one_line_each(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """Three checks at once (each imports aiogram): all good (with DIARIZATION=true: the
    diarizer's line); a token the Bot API refuses; a Bot API that does not answer."""
    wrong = fake.token.split(":")[0] + ":" + "x" * 35
    checks = {
        "good": _check(fake, tmp_path / "good", fake.token, fake.base_url, DIARIZATION="true"),
        "refused": _check(fake, tmp_path / "refused", wrong, fake.base_url),
        "silent": _check(fake, tmp_path / "silent", fake.token, "http://127.0.0.1:9"),
    }
    found: dict[str, tuple[int, list[str], str]] = {}
    for name, proc in checks.items():
        try:
            out, err = await asyncio.to_thread(proc.communicate, timeout=120 * TIMEOUT_SCALE)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        found[name] = (proc.returncode, out.splitlines(), err)

    code, lines, err = found["good"]
    assert code == 0, (lines, err)
    assert lines[0].startswith("ok    data folder: ")
    assert lines[1].startswith("ok    model: the bundled tiny.en loads (")
    assert lines[2].startswith("ok    speaker turns: the diarizer loads (")
    assert lines[3] == f"ok    Bot API: {fake.base_url} answers"
    assert lines[4].startswith("ok    token: accepted: the bot is @")
    assert lines[5] == "all good: start the bot"

    code, lines, err = found["refused"]
    assert code == 1, (lines, err)
    assert "ok    Bot API: " in lines[2]  # no speaker-turns line without DIARIZATION
    assert lines[3].startswith("FAIL  token: Telegram refused BOT_TOKEN")
    assert lines[-1] == "see FAIL above"

    code, lines, err = found["silent"]
    assert code == 1, (lines, err)
    assert lines[2].startswith("FAIL  Bot API: no answer from http://127.0.0.1:9: ")
    assert lines[3] == "FAIL  token: not checked (the Bot API did not answer)"
    for _, lines, err in found.values():
        text = "\n".join(lines) + err
        assert fake.token not in text
        assert "x" * 35 not in text
        assert "Traceback" not in text
