"""Decoding the next note while the model works on this one.

faster-whisper decodes a file (PyAV, resampled to 16 kHz) in the calling thread before the
model starts on it: about 3 ms per second of audio on the development machine, some 6 % of
tiny.en's time on one thread. The transcription service knows which note comes next, so that
note is decoded in a thread of its own, on a core the model leaves idle, while the current
one is transcribed; its run then starts at the model. The decode is the one faster-whisper
does (:func:`transcription.audio.decode`, at the model's rate), so the text is the same. With
``vad`` the note's speech is found there too (:mod:`transcription.speech_only`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from transcription.audio import Audio, decode
from transcription.speech_only import Speech, find_speech

Stamp = tuple[int, int]
"""A file's size and modification time: decoded audio is used only for the same file."""


def _stamp(path: Path) -> Stamp | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class Decoded:
    """A note decoded ahead: ``audio`` the whole note at the model's rate, ``speech`` its
    speech when VAD was asked for and could be run ahead."""

    audio: Audio
    speech: Speech | None = None


class DecodeAhead:
    """Decodes files ahead of their runs in one background thread; keeps the newest few.

    :meth:`start` returns at once (no I/O on the caller's thread: the event loop's).
    :meth:`take` hands the decoded audio to the run, waiting if the decode is still under
    way; None means the run decodes the file itself, as it would have anyway: nothing was
    started for it, the file changed or went since, or decoding failed (the run's own decode
    then reports why, as for any note).
    """

    def __init__(
        self,
        sampling_rate: int,
        *,
        keep: int = 2,
        vad: bool = False,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self._rate = sampling_rate
        self._vad = vad
        self._keep = keep  # decoded float32 audio: about 3.8 MB a minute
        self._lock = threading.Lock()
        self._started: OrderedDict[Path, Future[tuple[Stamp | None, Decoded]]] = OrderedDict()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="whisper-decode", initializer=initializer
        )

    def start(self, path: Path) -> None:
        """Begin decoding ``path`` unless that is already under way or done."""
        with self._lock:
            if path in self._started:
                return
            try:
                self._started[path] = self._executor.submit(self._decode, path)
            except RuntimeError:  # shut down
                return
            while len(self._started) > self._keep:
                _, oldest = self._started.popitem(last=False)
                oldest.cancel()

    def take(self, path: Path) -> Decoded | None:
        """``path`` decoded ahead, else None (see the class)."""
        with self._lock:
            started = self._started.pop(path, None)
        if started is None:
            return None
        try:
            stamp, audio = started.result()
        except Exception:  # failed or cancelled: the run decodes it itself
            return None
        if stamp is None or _stamp(path) != stamp:
            return None
        return audio

    def close(self) -> None:
        """Stop the thread; decodes not started are dropped."""
        with self._lock:
            self._started.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _decode(self, path: Path) -> tuple[Stamp | None, Decoded]:
        stamp = _stamp(path)  # before reading: a file replaced meanwhile no longer matches
        audio = decode(path, self._rate)
        speech = find_speech(audio, self._rate) if self._vad else None
        return stamp, Decoded(audio, speech)
