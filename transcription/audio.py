"""A note decoded to what the model hears: faster-whisper's decoding, without its pause.

faster-whisper's ``decode_audio`` ends every call with ``gc.collect()`` (its issue 390: PyAV's
resampler once left reference cycles behind). A full collection walks every object of the
process with the GIL held: 1 ms in a script, about 120 ms in the bot, whose aiogram and
pydantic models are some 200,000 objects. So each note decoded froze the event loop for that
long (the downloads and replies of a burst of notes waited behind it) and cost as much CPU.
The PyAV this project installs leaves no cycles (a test decodes with the collector off and
finds nothing to collect), so :func:`decode` makes the same steps without the collection:
PyAV's decoder, frames it cannot read skipped, resampled to 16-bit mono at the model's rate
and scaled to float32. The samples are those of ``decode_audio`` (tested), so the text is.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]

# faster-whisper's grouping: frames are resampled in runs of this many samples.
_GROUP_SAMPLES = 500_000


def decode(source: Path | str | BinaryIO, sampling_rate: int) -> Audio:
    """The first audio stream of ``source`` as mono float32 samples at ``sampling_rate``
    (faster-whisper's ``decode_audio``). PyAV's errors propagate for a file that is not
    audio at all; damaged frames inside a readable file are skipped."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sampling_rate)
    buffer = io.BytesIO()
    dtype: np.dtype[Any] | None = None
    with av.open(
        str(source) if isinstance(source, Path) else source, mode="r", metadata_errors="ignore"
    ) as container:
        grouped = _grouped(_readable(container.decode(audio=0)))
        for frame in itertools.chain(grouped, [None]):  # None flushes the resampler
            for out in resampler.resample(frame):
                array = out.to_ndarray()
                dtype = array.dtype
                buffer.write(array.tobytes())
    if dtype is None:  # no audio frames at all: an empty note, as faster-whisper returns
        return np.zeros(0, dtype=np.float32)
    samples = np.frombuffer(buffer.getbuffer(), dtype=dtype)
    decoded: Audio = samples.astype(np.float32) / 32768.0
    return decoded


def _readable(frames: Iterator[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:  # one damaged frame: skip it, as faster-whisper does
            continue


def _grouped(frames: Iterator[av.AudioFrame]) -> Iterator[av.AudioFrame]:
    fifo = av.AudioFifo()
    for frame in frames:
        frame.pts = None  # the FIFO checks timestamps; grouped frames need none
        fifo.write(frame)
        if fifo.samples >= _GROUP_SAMPLES and (group := fifo.read()) is not None:
            yield group
    if fifo.samples > 0 and (rest := fifo.read()) is not None:
        yield rest
