"""How long a recording really is, read from the file rather than from what a sender claimed.

Uses PyAV (installed with faster-whisper, which decodes with it too), so the length measured
here is the length the model will be given.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import av
import av.error
import structlog

_log = structlog.get_logger("transcription.probe")

# What opening or reading a file that is not audio can raise (PyAV's EOFError for a file cut
# short is also a builtin EOFError; OSError covers a file that cannot be read at all).
_UNREADABLE = (av.error.FFmpegError, EOFError, OSError, ValueError, IndexError)


def probe_duration(path: Path) -> float | None:
    """Seconds of audio in ``path``, or None when it holds no audio that can be read.

    Blocking (it reads the whole file): call it through :func:`measure_duration` from async
    code. The packets of the first audio stream are walked without decoding them, so the
    answer is the span of the audio actually present, whatever a header says; a stream whose
    packets carry no timing falls back to the header, and then to decoding and counting
    samples.
    """
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            measured = _packet_span(container, stream)
            if measured is not None:
                return measured
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
            container.seek(0)
            return _decoded_seconds(container, stream)
    except _UNREADABLE as exc:
        _log.info("audio_not_measurable", file=path.name, error=type(exc).__name__)
        return None


async def measure_duration(path: Path) -> float | None:
    """:func:`probe_duration` in a worker thread, so the event loop never waits on it."""
    return await asyncio.to_thread(probe_duration, path)


def _packet_span(container: av.container.InputContainer, stream: av.AudioStream) -> float | None:
    """From the first packet's start to the last packet's end, or None without timings."""
    time_base: Fraction | None = stream.time_base
    if time_base is None:
        return None
    start: int | None = None
    end: int | None = None
    try:
        for packet in container.demux(stream):
            if packet.pts is None:  # the flush packet at the end, or an untimed one
                continue
            finish = packet.pts + (packet.duration or 0)
            start = packet.pts if start is None else min(start, packet.pts)
            end = finish if end is None else max(end, finish)
    except _UNREADABLE:
        # Damaged further in: what was read so far is still audio the model will get.
        if start is None or end is None:
            raise
    if start is None or end is None or end <= start:
        return None
    return float((end - start) * time_base)


def _decoded_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    samples = 0
    rate = 0
    for frame in container.decode(stream):
        samples += frame.samples
        rate = frame.sample_rate or rate
    return samples / rate if rate else 0.0
