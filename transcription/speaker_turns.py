"""Speaker turns inside a recording: diarization after Whisper, and the session's numbering.

:class:`SpeakerTurns` is the transcription engine's dependency for notes whose chat asked
for turns (``DecodeOptions.diarize``): the diarizer is loaded once per process, on the first
note that needs it, and runs in the note's own inference thread after Whisper, within its
timeout. It never fails a note: a diarizer that cannot load or fails leaves the transcript
without turns (logged). :func:`session_numbers` numbers the voices across a session's
notes when its transcript is consolidated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from sessions import Session, SessionFolder, Transcript, TranscriptionStatus

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from transcription.diarization import Diarizer, SpeakerTurn

_log = structlog.get_logger("transcription.speakers")

SAMPLE_RATE = 16000
# BLAS threads of the diarizer's encoder: one, whatever Whisper's WHISPER_CPU_THREADS. Its LSTM
# is many small matrix products; with Whisper's 4 threads OpenBLAS's threads spun against each
# other and Whisper's, and the diarize step took 1-2x the note's duration instead of 0.03x on
# 2 busy cores (BENCHMARKS.md, "Speaker diarization", "In the pipeline").
DIARIZER_THREADS = 1

# transcription.diarization is imported only when a note asks for turns: a process that never
# diarizes never loads its encoder, weights or the optional extra.


def _load_default(threads: int) -> Diarizer:
    from transcription.diarization import load_diarizer

    return load_diarizer(threads=threads)


def _assign(spans: list[tuple[float, float]], turns: Sequence[SpeakerTurn]) -> list[int | None]:
    from transcription.diarization import assign_speakers

    return assign_speakers(spans, turns)


class SpeakerTurns:
    """The diarizer of this process, loaded lazily, once, and applied to transcripts.

    ``load`` builds the diarizer (default: :func:`transcription.diarization.load_diarizer`);
    ``assign`` gives each segment its speaker from the diarizer's turns. Thread-safe: two
    inference threads never load it twice."""

    def __init__(
        self,
        threads: int = DIARIZER_THREADS,
        *,
        load: Callable[[int], Diarizer] = _load_default,
        assign: Callable[
            [list[tuple[float, float]], Sequence[SpeakerTurn]], list[int | None]
        ] = _assign,
    ) -> None:
        self.threads = threads
        self._load = load
        self._assign = assign
        self._diarizer: Diarizer | None = None
        self._unavailable: str | None = None
        self._lock = threading.Lock()

    def diarizer(self) -> Diarizer | None:
        """The diarizer, loaded on first use; None when it cannot be loaded (logged once:
        a missing engine does not get better from one note to the next)."""
        with self._lock:
            if self._diarizer is None and self._unavailable is None:
                started = time.perf_counter()
                try:
                    self._diarizer = self._load(self.threads)
                except Exception as exc:  # DiarizationUnavailable, a missing extra, ...
                    self._unavailable = _one_line(exc)
                    _log.error("diarization_unavailable", reason=self._unavailable)
                else:
                    seconds = round(time.perf_counter() - started, 2)
                    _log.info("diarizer_loaded", seconds=seconds, threads=self.threads)
            return self._diarizer

    @property
    def unavailable(self) -> str | None:
        """Why the diarizer could not be loaded (one line), once :meth:`diarizer` tried."""
        return self._unavailable

    def apply(
        self, audio: npt.NDArray[np.float32], transcript: Transcript, name: str = ""
    ) -> Transcript:
        """``transcript`` with each segment's local speaker and the note's voice
        embeddings; ``transcript`` unchanged when diarization is unavailable or fails."""
        if not transcript.segments:
            return transcript
        diarizer = self.diarizer()
        if diarizer is None:
            return transcript
        started = time.perf_counter()
        try:
            found = diarizer.diarize(audio, SAMPLE_RATE)
            spans = [(s.start, s.end) for s in transcript.segments]
            speakers = self._assign(spans, found.turns)
            centroids = [[float(x) for x in c] for c in found.centroids]
            segments = [
                s.model_copy(update={"speaker": _valid(who, len(centroids))})
                for s, who in zip(transcript.segments, speakers, strict=True)
            ]
        except Exception as exc:
            _log.warning("diarization_failed", name=name, error=_one_line(exc))
            return transcript
        _log.info(
            "diarized",
            name=name,
            speakers=len(centroids),
            seconds=round(time.perf_counter() - started, 2),
        )
        return transcript.model_copy(
            update={"segments": segments, "speaker_centroids": centroids or None}
        )


def _valid(speaker: int | None, count: int) -> int | None:
    return speaker if speaker is not None and 0 <= speaker < count else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _link_default(notes: list[list[list[float]]]) -> list[list[int]]:
    from transcription.diarization import link_speakers

    return link_speakers(notes)


def session_numbers(
    folder: SessionFolder,
    session: Session,
    link: Callable[[list[list[list[float]]]], list[list[int]]] | None = None,
) -> dict[int, list[int]]:
    """Each diarized note's voices as session-wide numbers (by sequence), one voice the
    same number in every note where it speaks; empty when no note was diarized or the
    linking fails (logged: each note then numbers its own voices). Blocking: reads files."""
    sequences: list[int] = []
    centroids: list[list[list[float]]] = []
    for entry in sorted(session.audio_entries, key=lambda e: e.sequence):
        if entry.transcription_status is not TranscriptionStatus.COMPLETED:
            continue
        detail = folder.read_transcript(entry.sequence)
        if detail is not None and detail.speaker_centroids:
            sequences.append(entry.sequence)
            centroids.append(detail.speaker_centroids)
    if not sequences:
        return {}
    try:
        linked = (link or _link_default)(centroids)
        if len(linked) != len(sequences) or any(
            len(numbers) != len(found) for numbers, found in zip(linked, centroids, strict=True)
        ):
            raise ValueError("the linking does not match the notes' speakers")
    except Exception as exc:
        _log.warning("speaker_linking_failed", session_id=session.session_id, error=_one_line(exc))
        return {}
    return {seq: [int(n) for n in numbers] for seq, numbers in zip(sequences, linked, strict=True)}


__all__ = ["DIARIZER_THREADS", "SAMPLE_RATE", "SpeakerTurns", "session_numbers"]
