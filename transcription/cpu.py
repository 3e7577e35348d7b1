"""The CPU side of inference: how many threads, and at what priority."""

from __future__ import annotations

import os
import threading

import structlog

_log = structlog.get_logger("transcription.cpu")

MAX_DEFAULT_CPU_THREADS = 4  # CTranslate2's own default; the most 0 ever means


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_cpu_threads(cores: int | None = None) -> int:
    """The inference threads ``WHISPER_CPU_THREADS=0`` means: half the usable cores, at
    least 1 and at most 4.

    Measured on 2 cores (BENCHMARKS.md, "Thread count"): idle, one thread transcribed the
    corpus 1.4-1.9x as fast as 4 and with 40 % less CPU (the tiny model's steps are too
    small to split; extra threads wait on each other, and on a virtual machine on descheduled
    siblings). Beside ``stress-ng --cpu 2`` 4 threads finished sooner, but only because each
    thread at ``TRANSCRIPTION_NICE`` takes its own share from the other work, which the nice
    level is there to prevent: set the count (or a lower nice) to compete on purpose."""
    if cores is None:
        cores = usable_cores()
    return max(1, min(MAX_DEFAULT_CPU_THREADS, cores // 2))


def lower_thread_priority(nice: int) -> None:
    """Give the calling thread (and threads it starts) a lower CPU priority (Linux).

    The model's own worker threads are started by the thread that loads it and inherit its
    priority, so inference yields the CPU to the event loop: the bot stays responsive while
    a long session is transcribed on a small machine.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, max(current, min(nice, 19)))
    except OSError as exc:  # e.g. not permitted in a locked-down container: run as is
        _log.warning("thread_priority_unchanged", error=str(exc))


def limit_blas_threads(threads: int = 1) -> bool:
    """Keep numpy's BLAS to ``threads`` threads in this process; whether a limit was set
    (False: threadpoolctl is missing, or numpy's BLAS is not loaded yet).

    numpy's wheels bring OpenBLAS with a thread per core, and faster-whisper's feature
    extraction (one small matrix product per note) wakes them all: the helper then spins for
    about 0.1 s per note on the core the bot's event loop, downloads and next-note decoding
    need, at normal priority (1.2 s of CPU in a ten-note session here, BENCHMARKS.md). One
    thread does that product in a few milliseconds. Code that wants more for a while (the
    diarizer's encoder) raises the limit around its own work with ``threadpool_limits``.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return False
    if not any(pool.get("user_api") == "blas" for pool in threadpool_info()):
        return False
    threadpool_limits(limits=threads, user_api="blas")
    return True
