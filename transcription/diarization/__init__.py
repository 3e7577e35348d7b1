"""Offline speaker diarization on the CPU: who speaks when inside one recording.

Resemblyzer's speaker encoder (a 3-layer LSTM over 40-channel mel frames, weights shipped in
this package as ``voice_encoder.npz``) is evaluated with numpy; no torch, nothing downloaded.
Speech regions come from the Silero VAD that ships with faster-whisper unless the caller
passes them; 1.6 s windows every 0.8 s are embedded and clustered (average linkage on cosine
distance, the speaker count found by a threshold), then merged into turns.
"""

from transcription.diarization.clustering import link_speakers
from transcription.diarization.diarizer import VoiceDiarizer, load_diarizer
from transcription.diarization.turns import assign_speakers
from transcription.diarization.types import (
    Diarization,
    DiarizationUnavailable,
    Diarizer,
    SpeakerTurn,
)

__all__ = [
    "Diarization",
    "DiarizationUnavailable",
    "Diarizer",
    "SpeakerTurn",
    "VoiceDiarizer",
    "assign_speakers",
    "link_speakers",
    "load_diarizer",
]
