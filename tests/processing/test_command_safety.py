"""The command processor keeps the bot's secrets to itself: an allow-listed environment,
stderr redacted before it is stored, and text that survives any locale."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from processing import CommandProcessor, ProcessingService, ProcessingSettings, ProcessorError
from processing import build_processor as build
from sessions import FileSessionManager, SessionFolder, SessionState
from tests.conftest import TIMEOUT_SCALE
from tests.processing import output_dir, transcribed_session

TOKEN = "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"
WEBHOOK = "hook-secret-4711"
REDIS = "redis://:s3cret-pass@redis.internal:6379/0"
LLM_KEY = "sk-llm-key-0815"
SECRETS = [TOKEN, WEBHOOK, REDIS]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot's environment as a deployment has it: its secrets, and then some."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK)
    monkeypatch.setenv("REDIS_URL", REDIS)
    monkeypatch.setenv("LLM_API_KEY", LLM_KEY)
    monkeypatch.setenv("CLOUD_API_KEY", "key-from-the-bots-environment")
    monkeypatch.setenv("PYTHONPATH", "/opt/bot/site-packages")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.delenv("PROCESSOR_ENV", raising=False)


def settings(**values: object) -> ProcessingSettings:
    return ProcessingSettings(_env_file=None, **values)  # type: ignore[call-arg]


def read_env(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep:
            found[name] = value
    return found


async def test_command_environment_is_an_allow_list(
    manager: FileSessionManager, bot_env: None
) -> None:
    session = await transcribed_session(manager, ("text:hello", 2), chat_id=42)
    folder = manager.get_session_path(session.session_id)
    await CommandProcessor("env > env.txt", 10).run(session, SessionFolder(folder))

    dumped = output_dir(manager, session) / "env.txt"
    env = read_env(dumped)
    for name in ("BOT_TOKEN", "WEBHOOK_SECRET", "REDIS_URL", "LLM_API_KEY", "CLOUD_API_KEY"):
        assert name not in env
    assert "PYTHONPATH" not in env
    for secret in (TOKEN, WEBHOOK, "s3cret-pass", LLM_KEY):
        assert secret not in dumped.read_text()
    assert env["PATH"] == os.environ["PATH"]
    assert env["TZ"] == "Europe/Berlin"
    assert env["LC_TIME"] == "C"
    assert env["SESSION_ID"] == session.session_id
    assert env["CHAT_ID"] == "42"
    assert env["PROCESS_INPUT"] == str(folder / "process" / "input.txt")


async def test_processor_env_passes_the_names_it_lists(
    manager: FileSessionManager, bot_env: None
) -> None:
    configured = settings(processor="command:env > env.txt", processor_env="CLOUD_API_KEY")
    processor = build(configured)
    assert isinstance(processor, CommandProcessor)
    session = await transcribed_session(manager, ("text:hello", 2))
    await processor.run(session, manager.folder(session.session_id))
    env = read_env(output_dir(manager, session) / "env.txt")
    assert env["CLOUD_API_KEY"] == "key-from-the-bots-environment"
    assert "BOT_TOKEN" not in env


@pytest.mark.parametrize("name", ["BOT_TOKEN", "webhook_secret", "REDIS_URL", "LLM_API_KEY"])
def test_processor_env_never_names_the_bots_secrets(name: str) -> None:
    with pytest.raises(ValidationError, match="never reaches a processor"):
        settings(processor_env=f"CLOUD_API_KEY, {name}")
    assert "BOT_TOKEN" not in CommandProcessor("true", 1, pass_env=["BOT_TOKEN"]).pass_env


def test_processor_env_names_are_checked() -> None:
    assert settings(processor_env=" A_KEY ,B_KEY,,A_KEY ").passed_env == ["A_KEY", "B_KEY"]
    with pytest.raises(ValidationError, match="not an environment variable name"):
        settings(processor_env="NOT-A-NAME")


async def test_stderr_is_redacted_before_metadata_log_and_message(
    manager: FileSessionManager, bot_env: None
) -> None:
    # The command cannot see the secrets, but it may read them elsewhere (a .env file):
    # here they are written into the command line itself.
    leak = f"token {TOKEN} hook {WEBHOOK} redis {REDIS} other 987654:{'Z' * 35}"
    command = f"echo 'leaked: {leak}' >&2; echo 'https://me:hunter22@example.org' >&2; exit 1"
    processor = build(settings(processor=f"command:{command}"), secrets=SECRETS)
    assert processor is not None
    service = ProcessingService(manager, processor)
    await service.start()
    try:
        session = await transcribed_session(manager, ("text:hello", 2))
        await asyncio.wait_for(service.wait_idle(), 10)
    finally:
        await service.stop()

    folder = manager.get_session_path(session.session_id)
    stored = await manager.require_session(session.session_id)
    assert stored.state is SessionState.ERROR
    written = [
        (folder / "metadata.json").read_text(),
        (output_dir(manager, session) / "processor.log").read_text(),
        stored.errors[-1].message,
    ]
    for text in written:
        for secret in (TOKEN, WEBHOOK, "s3cret-pass", "Z" * 35, "hunter22"):
            assert secret not in text
    tail = stored.errors[-1].details["stderr_tail"]
    assert "leaked: token *** hook *** redis *** other ***" in tail
    assert tail.endswith("https://me:***@example.org")


async def test_a_secret_where_the_tail_begins_is_still_redacted(
    manager: FileSessionManager,
) -> None:
    session = await transcribed_session(manager, ("text:hello", 2))
    # The tail keeps the last 1000 characters: the token straddles where it begins.
    command = f"printf %s {WEBHOOK} >&2; head -c 995 /dev/zero | tr '\\0' y >&2; exit 1"
    processor = CommandProcessor(command, 10, secrets=[WEBHOOK])
    with pytest.raises(ProcessorError) as caught:
        await processor.run(session, manager.folder(session.session_id))
    tail = caught.value.details["stderr_tail"]
    assert WEBHOOK[-5:] not in tail
    assert tail.endswith("y" * 995)


async def test_non_ascii_text_through_the_command_under_the_c_locale(
    manager: FileSessionManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setenv("LANG", "C")
    session = await transcribed_session(manager, ("text:Zoë, naïve, 東京", 2))
    folder = manager.get_session_path(session.session_id)
    command = 'cp "$PROCESS_INPUT" copy.txt; cat "$PROCESS_INPUT" >&2; exit 1'
    with pytest.raises(ProcessorError) as caught:
        await CommandProcessor(command, 10).run(session, SessionFolder(folder))
    assert caught.value.details["stderr_tail"] == "Zoë, naïve, 東京"
    expected = "Zoë, naïve, 東京\n".encode()
    assert (folder / "process" / "input.txt").read_bytes() == expected
    assert (output_dir(manager, session) / "copy.txt").read_bytes() == expected


@pytest.mark.slow
def test_transcripts_are_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """The pipeline and both processors in a Python whose locale encoding is ASCII."""
    env = {
        "PATH": os.environ["PATH"],
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONUTF8": "0",  # no UTF-8 mode, no locale coercion: open() defaults to ASCII
        "PYTHONCOERCECLOCALE": "0",
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.processing.locale_child", str(tmp_path / "sessions")],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120 * TIMEOUT_SCALE,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    report = json.loads(result.stdout.decode().splitlines()[-1])
    assert report["encoding"].lower() in {"ansi_x3.4-1968", "ascii", "us-ascii"}
    assert report["state"] == "TRANSCRIBED"
    out = Path(report["output"])
    text = "Zoë, naïve, 東京"
    assert text in (out.parent / "input.txt").read_text(encoding="utf-8")
    assert text in (out / "session.md").read_text(encoding="utf-8")
    assert text in (out / "session.srt").read_text(encoding="utf-8")
    assert (out / "copy.txt").read_text(encoding="utf-8") == f"{text}\n"
