"""Speech to text with faster-whisper, and the service that transcribes finalized sessions.

May import: ``runtime``, ``sessions`` and ``library`` (the layers below); never
``processing``, ``notes`` or ``bot``, never Telegram.
"""

from transcription.engine import (
    AudioDecodeError,
    ModelLoadError,
    Transcriber,
    TranscriptResult,
    TranscriptSegment,
    WhisperTranscriber,
    bundled_model_path,
)
from transcription.pipeline import (
    EntryGone,
    finish_session,
    transcribe_entry,
    transcribe_session,
)
from transcription.service import TranscriptionService
from transcription.settings import TranscriptionSettings

__all__ = [
    "AudioDecodeError",
    "EntryGone",
    "ModelLoadError",
    "Transcriber",
    "TranscriptResult",
    "TranscriptSegment",
    "TranscriptionService",
    "TranscriptionSettings",
    "WhisperTranscriber",
    "bundled_model_path",
    "finish_session",
    "transcribe_entry",
    "transcribe_session",
]
