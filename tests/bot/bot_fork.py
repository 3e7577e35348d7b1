"""``python -m bot`` without paying for its imports at every start: the test bot processes are
forked from a server process that imported aiogram, pydantic and the bot's modules once.

Starting a real ``python -m bot`` costs about 10 s of one core before its first poll, nearly
all of it aiogram building its pydantic models, and the suite starts a bot some hundreds of
times. Here the multiprocessing "forkserver" imports those modules once per test process
(:mod:`tests.bot.bot_preload`), and each bot is a fork of it that then does what
``python -m bot`` does (:func:`run_bot_main`): the test's environment and nothing else, the
repository as working folder, the same argv, stdin from /dev/null, stdout and stderr into
the log, and ``bot.__main__`` run by ``runpy`` as ``__main__``. It is a process of its own:
SIGKILL, SIGTERM and SIGINT reach the bot's own handlers, and its exit status is the one the
bot chose (``bot.__main__`` ends in ``os._exit``).

``TEST_BOT_FORK=0`` turns this off: every bot is then a plain ``python -m bot`` subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
from multiprocessing.context import ForkServerProcess

ENABLED = os.environ.get("TEST_BOT_FORK", "1") != "0"

PRELOAD = ["tests.bot.bot_preload"]
"""What the fork server imports once: see :mod:`tests.bot.bot_preload`."""


def run_bot_main(args: list[str], env: dict[str, str], cwd: str, log_path: str, umask: int) -> None:
    """In the forked child: become ``python -m bot ARGS`` started with ``env`` in ``cwd``, its
    stdout and stderr appended to ``log_path``; never returns."""
    os.umask(umask)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    # Unbuffered like PYTHONUNBUFFERED=1 (the tests' env): a line is in the file when written,
    # so a SIGKILL loses none of the log.
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = _unbuffered(1, "strict")
    sys.stderr = _unbuffered(2, "backslashreplace")
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.path.insert(0, cwd)  # python -m puts the working folder first
    sys.argv = ["-m", *args]  # runpy sets argv[0] to bot/__main__.py, as -m does
    import runpy
    import traceback

    code = 1
    try:
        runpy.run_module("bot", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:  # the interpreter's way: die of the SIGINT
        traceback.print_exc()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # what the interpreter would print before exiting 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _unbuffered(fd: int, errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False),
        encoding="utf-8",
        errors=errors,
        line_buffering=True,
        write_through=True,
    )


def ensure_server() -> None:
    """Start the fork server (importing :data:`PRELOAD`) if it is not running yet."""
    multiprocessing.forkserver.set_forkserver_preload(PRELOAD)
    multiprocessing.forkserver.ensure_running()


def current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ForkedBot:
    """A forked ``python -m bot``: the parts of :class:`asyncio.subprocess.Process` the tests
    use (``pid``, ``returncode``, ``wait``, ``send_signal``, ``kill``, ``terminate``)."""

    def __init__(self, process: ForkServerProcess) -> None:
        self._process = process
        self.pid: int = process.pid or 0

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], cwd: str, log_path: str) -> ForkedBot:
        ensure_server()
        ctx = multiprocessing.get_context("forkserver")
        process = ctx.Process(
            target=run_bot_main,
            args=(args, env, cwd, log_path, current_umask()),
            name="python -m bot",
            daemon=True,
        )
        process.start()
        return cls(process)

    @property
    def returncode(self) -> int | None:
        """None while it runs; its exit code, or minus the signal that ended it."""
        return self._process.exitcode

    async def wait(self) -> int:
        """Until it has exited (without blocking the loop); returns :attr:`returncode`."""
        loop = asyncio.get_running_loop()
        while self._process.exitcode is None:
            done = loop.create_future()
            sentinel = self._process.sentinel
            loop.add_reader(sentinel, _wake, done)
            try:
                await done
            finally:
                loop.remove_reader(sentinel)
        return self._process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # exited, not yet reported
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)
