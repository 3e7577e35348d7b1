"""Proof at scale: the bot, Redis and two transcription workers from compose.yaml's ``scale``
profile, driven through a whole session against the fake Bot API.

    bash scripts/docker-smoke.sh --scale          # as root, with a Docker engine
    bash scripts/docker-smoke.sh --scale --live   # notes transcribed before /done

Builds the image, starts ``redis:7``, two ``worker`` containers and the bot with
``TRANSCRIPTION_BACKEND=taskiq`` (all on the host's network through
``scripts/compose.host-network.yaml``), sends a session of eight voice notes (the speech
fixtures) and /done, then checks that the transcript holds the fixtures' words in send order,
that each note was transcribed exactly once, and that both workers took jobs (from the
``job_started``/``job_done`` lines in their logs). With ``--live`` it waits until the workers
have transcribed every note before sending /done, and checks that /done had nothing left to
transcribe. Everything is torn down at the end, and a short summary printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# scripts/ is on sys.path when this runs as a script; docker_smoke adds the repository root.
from docker_smoke import (
    HOST_NETWORK,
    Compose,
    build_image,
    check_logs,
    check_session_files,
    check_transcript,
    compose_env,
    finish_session,
    send_notes,
)

from tests.fake_telegram import FakeTelegram

PROJECT = "voicebot-scale"
WORKERS = 2
# Eight notes, the four fixtures twice in another order: more jobs than workers, so both
# must take some, and a transcript whose order shows that send order is kept.
NAMES = [f"speech_0{n}.ogg" for n in (1, 2, 3, 4, 3, 1, 4, 2)]
READY_TIMEOUT = 300.0  # image start and model load on a busy 2-core machine
LIVE_TIMEOUT = 600.0
DONE_TIMEOUT = 600.0


@dataclass
class WorkerJobs:
    """What one worker container's log says it did."""

    label: str
    started: int = 0
    names: list[str] = field(default_factory=list)  # of finished jobs, in finishing order
    spans: list[tuple[float, float]] = field(default_factory=list)  # (started, done), epoch s


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def parse_worker_log(label: str, log: str) -> WorkerJobs:
    """The jobs in a worker's JSON log: ``job_started`` then ``job_done``, matched by task id."""
    jobs = WorkerJobs(label)
    began: dict[str, float] = {}
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        event = record.get("event")
        if event == "job_started":
            jobs.started += 1
            began[record["task_id"]] = _epoch(record["timestamp"])
        elif event == "job_done":
            jobs.names.append(record["name"])
            start = began.pop(record["task_id"], _epoch(record["timestamp"]))
            jobs.spans.append((start, _epoch(record["timestamp"])))
    return jobs


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of ``spans`` that overlap at one moment."""
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


async def worker_jobs(compose: Compose) -> list[WorkerJobs]:
    containers = await compose.containers("worker")
    return [
        parse_worker_log(f"worker_{n}", await compose.logs(container))
        for n, container in enumerate(containers, start=1)
    ]


async def wait_for_workers(
    compose: Compose,
    what: str,
    ready: Callable[[list[str]], bool],
    timeout: float,  # noqa: ASYNC109
) -> None:
    """Poll the workers' logs (once a second, at most ``timeout`` s) until ``ready`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        logs = [await compose.logs(c) for c in await compose.containers("worker")]
        if ready(logs):
            return
        if time.monotonic() > deadline:
            for log in logs:
                print(log[-3000:])
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(1.0)


def redis_port_free() -> None:
    """Exit with a clear message when something already listens on the Redis port of the
    host-network override (the Redis container could not take it)."""
    found = re.search(r"REDIS_URL: redis://127\.0\.0\.1:(\d+)/", HOST_NETWORK.read_text())
    assert found is not None, f"no REDIS_URL in {HOST_NETWORK}"
    port = int(found.group(1))
    with socket.socket() as probe:
        taken = probe.connect_ex(("127.0.0.1", port)) == 0
    if taken:
        raise SystemExit(f"port {port} is taken: the smoke's Redis listens there; free it first")


def _all_started(logs: list[str]) -> bool:
    return len(logs) == WORKERS and all('"worker_started"' in log for log in logs)


def _all_done(logs: list[str]) -> bool:
    return sum(log.count('"job_done"') for log in logs) >= len(NAMES)


async def main(live: bool) -> None:
    started = time.monotonic()
    await build_image()
    async with FakeTelegram() as fake:
        env = compose_env(
            fake,
            TRANSCRIPTION_BACKEND="taskiq",
            # As the README says: the bot keeps one note in flight per worker.
            TRANSCRIPTION_CONCURRENCY=str(WORKERS),
            LIVE_TRANSCRIPTION="true" if live else "false",
        )
        compose = Compose(PROJECT, env, profiles=["scale"])
        await compose.down()
        redis_port_free()
        try:
            await compose("up", "-d", "--no-build", "--scale", f"worker={WORKERS}")
            await fake.wait_called("setMyCommands", timeout=READY_TIMEOUT)
            print("bot is up and polling")
            await wait_for_workers(compose, f"{WORKERS} workers up", _all_started, READY_TIMEOUT)
            print(f"{WORKERS} workers have loaded the model and listen on Redis")

            await send_notes(fake, NAMES)
            print(f"{len(NAMES)} notes acknowledged")
            if live:
                await wait_for_workers(compose, "every note transcribed", _all_done, LIVE_TIMEOUT)
                print("the workers transcribed every note while the session was collecting")
            done_at = time.time()
            body, seconds = await finish_session(fake, timeout=DONE_TIMEOUT)
            check_transcript(body, NAMES)
            meta = await check_session_files(compose, len(NAMES), body)
            statuses = [e["transcription_status"] for e in meta["audio_entries"]]
            assert statuses == ["COMPLETED"] * len(NAMES), statuses

            jobs = await worker_jobs(compose)
            # A job is named after the note's stored file: 001_audio.ogg for note 1.
            finished = sorted(name for w in jobs for name in w.names)
            expected = [f"{n:03d}_audio.ogg" for n in range(1, len(NAMES) + 1)]
            assert finished == expected, f"each note once; the workers did {finished}"
            for worker in jobs:
                assert worker.names, f"{worker.label} took no job"
                # compose.yaml gives each worker one job at a time (WORKER_CONCURRENCY):
                # the bot's two notes in flight go to both workers, not one.
                assert most_at_once(worker.spans) == 1, f"{worker.label} ran jobs side by side"
            spans = [span for w in jobs for span in w.spans]
            after_done = sum(end > done_at for _, end in spans)
            if live:
                assert after_done == 0, f"{after_done} notes were still transcribed after /done"

            print("\n== scale smoke: summary")
            print(f"{len(NAMES)} notes, {WORKERS} workers, live transcription {live}")
            for worker in jobs:
                notes = ", ".join(str(int(name[:3])) for name in worker.names)
                print(
                    f"  {worker.label}: {len(worker.names)} jobs (notes {notes}),"
                    f" at most {most_at_once(worker.spans)} at once"
                )
            print(f"  most jobs running at once, all workers: {most_at_once(spans)}")
            print(f"  notes finished after /done: {after_done} of {len(NAMES)}")
            print(f"  /done -> transcript delivered: {seconds:.2f} s")
        finally:
            for service in ("bot", "worker", "redis"):
                await check_logs(compose, fake, service)
            await compose.down()
    print(f"docker scale smoke test passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--live",
        action="store_true",
        help="wait until the workers have transcribed every note before sending /done",
    )
    asyncio.run(main(parser.parse_args().live))
