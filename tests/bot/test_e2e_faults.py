"""End to end, the real ``python -m bot`` against a fake Bot API that misbehaves: update ids
that restart lower, a poison update, HTML and 409 answers, a server that never answers at
SIGTERM, SIGINT with a download in flight, a Bot API that is not there yet, a refused token.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, is_text, metadata, send_voice
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram
from tests.redis_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


async def launch(
    base_url: str, token: str, tmp_path: Path, running: list[BotProcess], **env: str
) -> BotProcess:
    proc = BotProcess(base_url, token, tmp_path, **env)
    running.append(proc)
    await proc.start()
    await proc.wait_started()
    return proc


def events(proc: BotProcess, name: str) -> list[dict[str, object]]:
    return [e for e in proc.events() if e.get("event") == name]


async def exit_code(proc: BotProcess, timeout: float = 60) -> int:  # noqa: ASYNC109
    assert proc.proc is not None
    return await asyncio.wait_for(proc.proc.wait(), timeout * TIMEOUT_SCALE)


async def test_a_note_after_update_ids_restart_lower_is_stored_and_answered(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    fake.reset_update_ids(1000)
    proc = await launch(fake.base_url, fake.token, tmp_path, running)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    await proc.terminate()

    fake.reset_update_ids(10)  # a week without updates: Telegram numbers afresh, lower
    proc = await launch(fake.base_url, fake.token, tmp_path, running)
    low = send_voice(fake, "speech_02.ogg")
    assert low == 10
    await fake.wait_reactions(CHAT, 2, timeout=20)
    [session] = metadata(tmp_path)
    assert len(session["audio_entries"]) == 2
    await eventually(lambda: bool(events(proc, "update_id_reset")))


async def test_poison_update_html_and_conflict_do_not_stop_the_bot(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake.base_url, fake.token, tmp_path, running)
    fake.fail_next("getUpdates", status=502, html=True)
    fake.fail_next("getUpdates", status=409)
    poison = fake.push_update(
        {
            "message": {
                "message_id": 900,
                "date": int(time.time()),
                "chat": {"id": CHAT, "type": "private", "first_name": "U"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "voice": {"file_id": "AwAC-poison", "file_unique_id": "P", "duration": None},
            }
        }
    )
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=30)
    await fake.wait_confirmed(poison, timeout=20)  # moved past, not redelivered for ever
    [logged] = events(proc, "update_unparseable")
    assert logged["update_id"] == poison
    assert '"duration": null' in str(logged["update"])
    failures = [str(e["error"]) for e in events(proc, "poll_failed")]
    assert "HTML" in failures[0]
    assert "409" in failures[1]
    assert proc.proc is not None
    assert proc.proc.returncode is None  # still serving
    assert "Traceback" not in proc.output()
    assert fake.token not in proc.output()


async def test_sigterm_exits_fast_when_the_server_hangs_and_the_note_comes_again(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake.base_url, fake.token, tmp_path, running)
    fake.hang("file")
    update_id = send_voice(fake, "speech_01.ogg")
    await eventually(lambda: bool(fake.downloads), timeout=20)  # the download hangs
    fake.hang("*")  # and now nothing answers at all: polls, sends, the last confirmation
    seconds = await proc.terminate(timeout=20)
    print(f"SIGTERM with a server that never answers: exited in {seconds:.2f} s")
    assert seconds < 10  # SHUTDOWN_GRACE_SECONDS (5) plus a few seconds
    assert proc.proc is not None
    assert proc.proc.returncode == 0
    assert proc.held_updates() == [update_id]  # cut off: the inbox keeps it for the next start
    assert metadata(tmp_path) == [] or not metadata(tmp_path)[0]["audio_entries"]

    fake.release()
    await launch(fake.base_url, fake.token, tmp_path, running)
    await fake.wait_reactions(CHAT, 1, timeout=30)  # delivered again
    [session] = metadata(tmp_path)
    assert len(session["audio_entries"]) == 1


async def test_sigint_lets_a_download_finish_within_the_grace_period(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake.base_url, fake.token, tmp_path, running, SHUTDOWN_GRACE_SECONDS="8")
    fake.delay_file(2)  # slower than no grace at all, well within 8 s
    update_id = send_voice(fake, "speech_01.ogg")
    await eventually(lambda: bool(fake.downloads), timeout=20)
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGINT)
    assert await exit_code(proc, timeout=20) == 0
    [session] = metadata(tmp_path)
    assert len(session["audio_entries"]) == 1  # stored during the grace period ...
    assert fake.confirmed_offset > update_id  # ... and confirmed before exiting
    assert events(proc, "bot_stopped")
    assert "Traceback" not in proc.output()


async def test_bot_comes_up_when_the_bot_api_does(
    tmp_path: Path, running: list[BotProcess]
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    fake = FakeTelegram(timeout_scale=TIMEOUT_SCALE)
    proc = BotProcess(base_url, fake.token, tmp_path)
    running.append(proc)
    await proc.start()
    try:
        await eventually(lambda: bool(events(proc, "telegram_unreachable")), timeout=60)
        fake.fail_next("getMe", status=502, html=True)  # then a proxy with its HTML page
        await fake.start(port=port)
        await proc.wait_started()
        fake.text(CHAT, USER, "/start")
        await fake.wait_for(is_text(CHAT, "New session started"), timeout=20)
    finally:
        await proc.stop()
        await fake.stop()
    unreachable = events(proc, "telegram_unreachable")
    assert len(unreachable) >= 2  # refused, then the HTML page
    assert {e["api"] for e in unreachable} == {base_url}
    assert "HTML" in str(unreachable[-1]["error"])
    output = proc.output()
    assert "Traceback" not in output
    assert fake.token.split(":")[1] not in output


async def test_refused_token_exits_2_with_one_line(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = BotProcess(fake.base_url, "654321:REFUSED-token_abcdefghijklmnopqrstuvwxyz0", tmp_path)
    running.append(proc)
    await proc.start()
    assert await exit_code(proc) == 2
    output = proc.output()
    assert "Traceback" not in output
    plain = [line for line in output.splitlines() if not line.startswith("{")]
    assert plain == ["voice-notes-bot: Telegram refused BOT_TOKEN (unauthorized)"]


async def test_a_webhook_url_telegram_refuses_exits_2_with_one_line(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    # No retry mends a refused WEBHOOK_URL: one line and exit 2, not a restart loop of
    # tracebacks.
    fake.fail_next(
        "setWebhook", status=400, description="Bad Request: bad webhook: Failed to resolve host"
    )
    env = {
        "WEBHOOK_URL": "https://bot.example.invalid/hook",
        "WEBHOOK_SECRET": "webhook-secret-for-tests",
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(free_port()),
    }
    proc = BotProcess(fake.base_url, fake.token, tmp_path, **env)
    running.append(proc)
    await proc.start()
    assert await exit_code(proc) == 2
    output = proc.output()
    assert "Traceback" not in output
    plain = [line for line in output.splitlines() if not line.startswith("{")]
    assert plain == [
        "voice-notes-bot: Telegram refused setWebhook: Bad Request: bad webhook: "
        "Failed to resolve host"
    ]
