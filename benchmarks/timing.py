"""What the speed benchmarks share: the worker's thread priority and the process's CPU time."""

from __future__ import annotations

import os
import resource
import threading


def set_thread_nice(nice: int) -> None:
    """Lower the calling thread's priority, as the transcription worker does (Linux). The
    model's threads are started by the thread that loads it and inherit its priority."""
    if nice > 0 and hasattr(os, "setpriority"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def cpu_seconds() -> float:
    """User plus system CPU seconds of this whole process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
