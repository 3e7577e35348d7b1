"""Build the image, run it with compose, and drive a whole session through the container.

    bash scripts/docker-smoke.sh   # as root, with a Docker engine (shared/tools/docker-sandbox)

The fake Bot API server from the tests runs in this process on 127.0.0.1; the container
reaches it through a ``network_mode: host`` compose override. Checks: the transcript of real
speech arrives, the session files land in the named volume, the health check passes, and
the container stops cleanly (exit code 0) on ``docker compose stop``/``down``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fake_telegram import FakeTelegram, SentCall  # noqa: E402
from tests.wer import word_error_rate  # noqa: E402

PROJECT = "voicebot-smoke"
IMAGE = "voice-notes-bot:latest"
CHAT = 4242
FIXTURES = REPO / "tests" / "fixtures"
OVERRIDE = """
services:
  bot:
    network_mode: host
"""


async def run(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    print("+", " ".join(args), flush=True)
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        print(text)
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(args)}")
    return text


def text_with(fragment: str) -> Callable[[SentCall], bool]:
    def check(call: SentCall) -> bool:
        return call.chat_id == CHAT and call.text is not None and fragment in call.text

    return check


async def main() -> None:
    import os

    references = json.loads((FIXTURES / "references.json").read_text())
    started = time.monotonic()
    await run("docker", "build", "--network", "host", "-t", IMAGE, ".")
    print(f"image built in {time.monotonic() - started:.0f} s")

    async with FakeTelegram() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            override = Path(tmp) / "compose.smoke.yaml"
            override.write_text(OVERRIDE)
            env = {
                **os.environ,
                "BOT_TOKEN": fake.token,
                "TELEGRAM_API_URL": fake.base_url,
                "ALLOWED_USER_IDS": "*",
                "TELEGRAM_POLL_TIMEOUT": "5",
            }
            compose = ["docker-compose", "-p", PROJECT, "-f", "compose.yaml", "-f", str(override)]
            await run(*compose, "down", "-v", env=env, check=False)
            try:
                await run(*compose, "up", "-d", "--no-build", env=env)
                await fake.wait_called("setMyCommands", timeout=180)
                print("bot is up and polling")

                fake.text(CHAT, CHAT, "/start")
                await fake.wait_for(text_with("New session started"), timeout=30)
                names = ["speech_01.ogg", "speech_02.ogg"]
                for name in names:
                    file_id = fake.add_file((FIXTURES / name).read_bytes())
                    fake.voice(CHAT, CHAT, file_id=file_id, duration=5)
                await fake.wait_for(text_with("Got it: 2 notes"), timeout=60)
                fake.text(CHAT, CHAT, "/done")
                transcript = await fake.wait_for(text_with("Transcript of session"), timeout=180)
                assert transcript.text is not None
                body = transcript.text.split("\n\n", 1)[1]
                print("transcript received:\n" + body)
                for paragraph, name in zip(body.split("\n\n"), names, strict=True):
                    wer = word_error_rate(references[name], paragraph)
                    assert wer <= 0.3, (name, paragraph)

                # check=True: the health check must exit 0 inside the running container.
                await run(*compose, "exec", "-T", "bot", "python", "-m", "bot.healthcheck", env=env)
                print("health check inside the container: ok")

                volume = f"{PROJECT}_sessions"
                mountpoint = (
                    await run("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume)
                ).strip()
                sessions = sorted(Path(mountpoint).glob("*/metadata.json"))
                assert len(sessions) == 1, sessions
                meta = json.loads(sessions[0].read_text())
                assert meta["state"] == "TRANSCRIBED", meta["state"]
                folder = sessions[0].parent
                for n in (1, 2):
                    assert (folder / f"audio/{n:03d}_audio.ogg").is_file()
                    assert (folder / f"transcripts/{n:03d}_audio.txt").is_file()
                assert (folder / "process/input.txt").read_text().strip() == body.strip()
                print(f"session files in volume {volume}: {folder.name} OK")

                container = (await run(*compose, "ps", "-q", "bot", env=env)).strip()
                stop_started = time.monotonic()
                await run(*compose, "stop", env=env)
                stop_seconds = time.monotonic() - stop_started
                code = (
                    await run("docker", "inspect", "-f", "{{.State.ExitCode}}", container)
                ).strip()
                print(f"container stopped in {stop_seconds:.1f} s with exit code {code}")
                assert code == "0", code
                assert stop_seconds < 15, stop_seconds
            finally:
                logs = await run(*compose, "logs", "--no-color", "bot", env=env, check=False)
                assert fake.token not in logs, "token leaked into the container logs"
                if "Traceback" in logs:
                    print(logs)
                await run(*compose, "down", "-v", env=env, check=False)
    print(f"docker smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
