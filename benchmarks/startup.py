"""Start-up: seconds from ``python -m bot`` to its first ``getUpdates``, step by step.

    python -m benchmarks.startup [--runs 5]

Each run starts the real bot (bundled tiny.en, an empty data folder) against the fake Bot
API and stops it once the model is loaded. Reported, median of the runs, in seconds from the
spawn:

- ``starting``: the first log line (interpreter, settings, logging set up);
- ``imports``: the bot's modules imported (aiogram the most of it);
- ``connected``: getMe and deleteWebhook answered;
- ``library``: the session library (SQLite search index) open;
- ``first poll``: the fake Bot API receives the first getUpdates (the goal: within 4 s);
- ``model ready``: the Whisper model loaded in the background, after the first poll.

``--first-poll-only`` measures only the spawn to the first getUpdates, which any version of
the bot has (for a baseline: run this file from an older checkout's root).

Then the cost of importing aiogram's types alone (``python -c "import aiogram.types"``),
and the library's and pydantic's versions: that import is most of ``imports``.

``--image voice-notes-bot:latest`` (needs a Docker engine) measures the same steps in the
container, started as ``docker run --network host`` against the fake on loopback. Baselines
in the same run: ``docker run IMAGE python -c pass`` and ``... -c "import aiogram.types"``
(the container's own cost and aiogram's), and the same image with an empty bytecode cache
(``PYTHONPYCACHEPREFIX``: every module compiled at start, as an image built without
``compileall`` for a user who cannot write into the venv would do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tests.bot.bot_process import REPO, BotProcess
from tests.fake_telegram import FakeTelegram

STEPS = ("starting", "imports", "connected", "library", "first poll", "model ready")


def _since_spawn(event: dict[str, Any], spawned_wall: float) -> float:
    stamp = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
    return stamp.timestamp() - spawned_wall


def _steps(events: dict[str, Any], spawned_wall: float, first_poll: float) -> dict[str, float]:
    """Each step's seconds since the spawn, from the bot's ``starting``, ``ready`` and
    ``model_ready`` log events (``first_poll``: as the fake Bot API saw it)."""
    ready = events["ready"]
    # The bot's own clock starts when its main module runs; the spawn is a little earlier.
    offset = _since_spawn(ready, spawned_wall) - ready["first_poll_seconds"]
    return {
        "starting": _since_spawn(events["starting"], spawned_wall),
        "imports": offset + ready["imports_seconds"],
        "connected": offset + ready["connected_seconds"],
        "library": offset + ready["library_seconds"],
        "first poll": first_poll,
        "model ready": _since_spawn(events["model_ready"], spawned_wall),
    }


def _first_poll(fake: FakeTelegram) -> float | None:
    return next((t for name, t in fake.calls if name.lower() == "getupdates"), None)


async def one_run(folder: Path, first_poll_only: bool = False) -> dict[str, float]:
    """One start of the bot: each step's seconds since the spawn."""
    async with FakeTelegram() as fake:
        proc = BotProcess(fake.base_url, fake.token, folder, fork=False, WHISPER_CPU_THREADS="0")
        spawned, spawned_wall = time.monotonic(), time.time()
        await proc.start()
        try:
            deadline = spawned + 300
            while not (
                _first_poll(fake) is not None
                if first_poll_only
                else any(e.get("event") == "model_ready" for e in proc.events())
            ):
                if time.monotonic() > deadline or (proc.proc and proc.proc.returncode):
                    raise RuntimeError(f"the bot did not get ready:\n{proc.output()}")
                await asyncio.sleep(0.02)
        finally:
            await proc.stop()
        polled = _first_poll(fake)
        assert polled is not None
        if first_poll_only:
            return {"first poll": polled - spawned}
        events = {e["event"]: e for e in proc.events() if "event" in e}
        return _steps(events, spawned_wall, polled - spawned)


async def one_container_run(image: str, compiled: bool = True) -> dict[str, float]:
    """One start of the image's bot: each step's seconds since ``docker run`` was spawned."""
    async with FakeTelegram() as fake:
        name = f"startup-bench-{os.getpid()}-{time.monotonic_ns()}"
        settings = [f"TELEGRAM_API_URL={fake.base_url}", "ALLOWED_USER_IDS=*", "HF_HUB_OFFLINE=1"]
        settings += ["TELEGRAM_POLL_TIMEOUT=5", "WHISPER_CPU_THREADS=0"]
        if not compiled:
            settings.append("PYTHONPYCACHEPREFIX=/tmp/empty-pycache")
        command = ["docker", "run", "--rm", "--name", name, "--network", "host", "-e", "BOT_TOKEN"]
        for setting in settings:
            command += ["-e", setting]
        spawned, spawned_wall = time.monotonic(), time.time()
        # The token travels in docker's environment, never on its command line.
        proc = await asyncio.create_subprocess_exec(
            *command,
            image,
            env={**os.environ, "BOT_TOKEN": fake.token},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        events: dict[str, dict[str, Any]] = {}
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(300):
                while "model_ready" not in events:
                    line = (await proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        raise RuntimeError("the container stopped:\n" + "".join(lines))
                    lines.append(line)
                    with contextlib.suppress(ValueError):
                        event = json.loads(line)
                        events.setdefault(str(event.get("event")), event)
        finally:
            quiet = asyncio.subprocess.DEVNULL
            remove = await asyncio.create_subprocess_exec(
                "docker", "rm", "-f", name, stdout=quiet, stderr=quiet
            )
            await remove.wait()
            await proc.wait()
        polled = _first_poll(fake)
        assert polled is not None
        return _steps(events, spawned_wall, polled - spawned)


def import_seconds(statement: str, runs: int, prefix: tuple[str, ...] = ()) -> float:
    """Median wall time of a fresh interpreter running ``statement`` (``prefix``: in a
    container, e.g. ``docker run --rm IMAGE``)."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        interpreter = [*prefix, "python"] if prefix else [sys.executable]
        subprocess.run([*interpreter, "-c", statement], check=True, cwd=REPO)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def report(title: str, results: dict[str, list[float]]) -> None:
    print(f"{title}, median of {len(next(iter(results.values())))} runs, seconds from the spawn:")
    for step, values in results.items():
        print(f"  {step:<12} {statistics.median(values):6.2f}  (min {min(values):.2f})")


async def container_main(image: str, runs: int) -> None:
    """The image's start-up: compiled bytecode as shipped, then an empty bytecode cache."""
    for compiled in (True, False):
        results: dict[str, list[float]] = {step: [] for step in STEPS}
        for n in range(runs):
            run = await one_container_run(image, compiled)
            for step in STEPS:
                results[step].append(run[step])
            print(f"  run {n + 1}: " + ", ".join(f"{s} {run[s]:.2f}" for s in STEPS))
        report(f"{image}, bytecode {'as shipped' if compiled else 'compiled at start'}", results)
    prefix = ("docker", "run", "--rm", image)
    bare = import_seconds("pass", runs, prefix)
    types = import_seconds("import aiogram.types", runs, prefix)
    print(
        f"in the image: python -c pass {bare:.2f} s; python -c 'import aiogram.types' {types:.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--first-poll-only", action="store_true")
    parser.add_argument("--image", help="measure this Docker image instead (docker run)")
    args = parser.parse_args()
    steps = ("first poll",) if args.first_poll_only else STEPS
    print(
        f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; aiogram "
        f"{version('aiogram')}, pydantic {version('pydantic')}, Python {sys.version.split()[0]}"
    )
    if args.image:
        await container_main(args.image, args.runs)
        print(f"load average after {os.getloadavg()[0]:.2f}")
        return
    results: dict[str, list[float]] = {step: [] for step in steps}
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            run = await one_run(Path(tmp), args.first_poll_only)
        for step in steps:
            results[step].append(run[step])
        print(f"  run {n + 1}: " + ", ".join(f"{s} {run[s]:.2f}" for s in steps))
    report("native", results)
    if args.first_poll_only:
        return
    bare = import_seconds("pass", args.runs)
    types = import_seconds("import aiogram.types", args.runs)
    print(f"python -c pass: {bare:.2f} s; python -c 'import aiogram.types': {types:.2f} s")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
