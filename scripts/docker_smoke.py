"""Build the image, run it with compose, and drive a whole session through the container.

    bash scripts/docker-smoke.sh   # as root, with a Docker engine (shared/tools/docker-sandbox)

The fake Bot API server from the tests runs in this process on 127.0.0.1; the container
reaches it through the ``network_mode: host`` override ``scripts/compose.host-network.yaml``.
Checks: the transcript of real speech arrives, the session files land in the named volume,
the health check passes, and the container stops cleanly (exit code 0) on
``docker compose stop``/``down``.

The helpers here (compose, sending a session, checking its transcript and its files) are
shared with ``scripts/docker_scale_smoke.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fake_telegram import FakeTelegram, SentCall  # noqa: E402
from tests.wer import word_error_rate  # noqa: E402

PROJECT = "voicebot-smoke"
IMAGE = "voice-notes-bot:latest"
CHAT = 4242
FIXTURES = REPO / "tests" / "fixtures"
HOST_NETWORK = REPO / "scripts" / "compose.host-network.yaml"
MAX_WER = 0.3


async def run(
    *args: str, env: dict[str, str] | None = None, check: bool = True, echo: bool = True
) -> str:
    """Run a command in the repository; its output (stdout and stderr). Exits on failure
    when ``check``, printing the output. ``echo``: print the command first."""
    if echo:
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


async def build_image() -> None:
    """``docker build --network host`` of the repository's Dockerfile (pip reaches the index)."""
    started = time.monotonic()
    await run("docker", "build", "--network", "host", "-t", IMAGE, ".")
    print(f"image built in {time.monotonic() - started:.0f} s")


class Compose:
    """``docker-compose`` v1 on compose.yaml plus the host-network override, one project."""

    def __init__(self, project: str, env: dict[str, str], profiles: Sequence[str] = ()) -> None:
        self.project = project
        self.env = env
        self._base = ["docker-compose", "-p", project, "-f", "compose.yaml"]
        self._base += ["-f", str(HOST_NETWORK)]
        for profile in profiles:
            self._base += ["--profile", profile]

    async def __call__(self, *args: str, check: bool = True) -> str:
        return await run(*self._base, *args, env=self.env, check=check)

    async def containers(self, service: str) -> list[str]:
        """The ids of the service's containers, running or stopped, in compose's order
        (worker_1, worker_2, ...)."""
        listing = await run(
            "docker", "ps", "-a",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
            "--format", '{{.Label "com.docker.compose.container-number"}} {{.ID}}',
            echo=False,
        )  # fmt: skip
        numbered = sorted((int(n), c) for n, c in (line.split() for line in listing.splitlines()))
        return [container for _, container in numbered]

    async def logs(self, container: str) -> str:
        """A container's output so far (the service writes its JSON log lines there)."""
        return await run("docker", "logs", container, check=False, echo=False)

    async def volume_path(self, volume: str) -> Path:
        name = f"{self.project}_{volume}"
        inspected = await run("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", name)
        return Path(inspected.strip())

    async def down(self) -> None:
        await self("down", "-v", check=False)


def compose_env(fake: FakeTelegram, **settings: str) -> dict[str, str]:
    """The environment compose reads: this shell's, the fake Bot API, and ``settings``."""
    return {
        **os.environ,
        "BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.base_url,
        "ALLOWED_USER_IDS": "*",
        "TELEGRAM_POLL_TIMEOUT": "5",
        **settings,
    }


def text_with(fragment: str) -> Callable[[SentCall], bool]:
    def check(call: SentCall) -> bool:
        return call.chat_id == CHAT and call.text is not None and fragment in call.text

    return check


async def send_notes(fake: FakeTelegram, names: Sequence[str]) -> list[float]:
    """/start, then each fixture as a voice note; waits for the bot to acknowledge them all.
    Returns when each note was sent (time.monotonic)."""
    fake.text(CHAT, CHAT, "/start")
    await fake.wait_for(text_with("New session started"), timeout=60)
    sent_at = []
    for name in names:
        file_id = fake.add_file((FIXTURES / name).read_bytes())
        fake.voice(CHAT, CHAT, file_id=file_id, duration=5)
        sent_at.append(time.monotonic())
    await fake.wait_reactions(CHAT, len(names), timeout=120)  # each note stored
    return sent_at


async def finish_session(fake: FakeTelegram, timeout: float) -> tuple[str, float]:  # noqa: ASYNC109
    """/done; the transcript's body once delivered, and the seconds from /done to it."""
    since = len(fake.sent)
    done_at = time.monotonic()
    fake.text(CHAT, CHAT, "/done")
    transcript = await fake.wait_for(text_with("Transcript: "), timeout=timeout, since=since)
    assert transcript.text is not None
    print("transcript received:\n" + transcript.text)
    # After the header, one block per note: its heading ("Note 1 · 19:48 · 0:05"), its text.
    blocks = transcript.text.split("\n\n")[1:]
    body = "\n\n".join(b.split("\n", 1)[-1] for b in blocks)
    return body, transcript.timestamp - done_at


def check_transcript(body: str, names: Sequence[str]) -> None:
    """One paragraph per note, in the order sent, each close to its fixture's words."""
    references: dict[str, str] = json.loads((FIXTURES / "references.json").read_text())
    paragraphs = body.split("\n\n")
    assert len(paragraphs) == len(names), (len(paragraphs), len(names))
    for n, (paragraph, name) in enumerate(zip(paragraphs, names, strict=True), start=1):
        wer = word_error_rate(references[name], paragraph)
        assert wer <= MAX_WER, f"note {n} ({name}): WER {wer:.2f}: {paragraph!r}"
    print(f"transcript: {len(names)} paragraphs in send order, each within WER {MAX_WER}")


async def check_session_files(compose: Compose, count: int, body: str) -> dict[str, Any]:
    """The only session in the sessions volume: TRANSCRIBED, every note's audio and
    transcript, and process/input.txt is the delivered transcript. Returns its metadata."""
    mountpoint = await compose.volume_path("sessions")
    sessions = sorted(mountpoint.glob("*/metadata.json"))
    assert len(sessions) == 1, sessions
    meta: dict[str, Any] = json.loads(sessions[0].read_text())
    assert meta["state"] == "TRANSCRIBED", meta["state"]
    folder = sessions[0].parent
    for n in range(1, count + 1):
        assert (folder / f"audio/{n:03d}_audio.ogg").is_file()
        assert (folder / f"transcripts/{n:03d}_audio.txt").is_file()
    assert (folder / "process/input.txt").read_text().strip() == body.strip()
    print(f"session files in volume {compose.project}_sessions: {folder.name} OK")
    return meta


async def check_logs(compose: Compose, fake: FakeTelegram, service: str) -> None:
    """No container of ``service`` logged the token; a traceback is printed for the reader."""
    for container in await compose.containers(service):
        logs = await compose.logs(container)
        assert fake.token not in logs, f"token leaked into the logs of {service}"
        if "Traceback" in logs:
            print(logs)


async def main() -> None:
    started = time.monotonic()
    await build_image()
    async with FakeTelegram() as fake:
        compose = Compose(PROJECT, compose_env(fake))
        await compose.down()
        try:
            await compose("up", "-d", "--no-build")
            await fake.wait_called("setMyCommands", timeout=180)
            print("bot is up and polling")

            names = ["speech_01.ogg", "speech_02.ogg"]
            await send_notes(fake, names)
            body, _ = await finish_session(fake, timeout=180)
            check_transcript(body, names)

            # check=True: the health check must exit 0 inside the running container.
            await compose("exec", "-T", "bot", "python", "-m", "bot.healthcheck")
            print("health check inside the container: ok")
            await check_session_files(compose, len(names), body)

            [container] = await compose.containers("bot")
            stop_started = time.monotonic()
            await compose("stop")
            stop_seconds = time.monotonic() - stop_started
            code = (await run("docker", "inspect", "-f", "{{.State.ExitCode}}", container)).strip()
            print(f"container stopped in {stop_seconds:.1f} s with exit code {code}")
            assert code == "0", code
            assert stop_seconds < 15, stop_seconds
        finally:
            await check_logs(compose, fake, "bot")
            await compose.down()
    print(f"docker smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
