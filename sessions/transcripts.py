"""The transcript of one note, as stored beside its audio: text, timed segments, language."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class TranscriptSegment(BaseModel):
    """A stretch of speech with its time span in the audio (seconds)."""

    start: float
    end: float
    text: str
    # Who speaks in it, by the note's own numbering (0-based, as diarization found the
    # voices of this one recording); None: not diarized, or no voice matched the stretch.
    speaker: int | None = None


class Transcript(BaseModel):
    """What was recognised in one audio file.

    Stored as ``transcripts/NNN_audio.json`` (this model) and ``NNN_audio.txt`` (the text).
    """

    # Unknown keys (e.g. the "sequence" a stored file carries) are ignored on reading.
    model_config = ConfigDict(extra="ignore")

    text: str
    language: str | None = None
    language_probability: float | None = None
    duration_seconds: float = 0.0
    segments: list[TranscriptSegment] = Field(default_factory=list)
    processing_seconds: float = 0.0
    # Audio left after voice activity detection removed silence (None: not measured).
    speech_seconds: float | None = None
    # One unit-norm voice embedding per local speaker (``TranscriptSegment.speaker`` indexes
    # it), so the session can number its voices across notes; None: not diarized.
    speaker_centroids: list[list[float]] | None = None


def transcript_to_json(transcript: Transcript) -> dict[str, Any]:
    """The transcript as it is stored: a note that was not diarized is written exactly as
    before speaker turns existed (no ``speaker`` or ``speaker_centroids`` keys)."""
    data = transcript.model_dump(mode="json")
    if data.get("speaker_centroids") is None:
        data.pop("speaker_centroids", None)
    for segment in data["segments"]:
        if segment.get("speaker") is None:
            segment.pop("speaker", None)
    return data


def transcript_from_json(data: dict[str, Any]) -> Transcript:
    """A stored transcript, read forgivingly: a damaged segment or field is left out (or at
    its default) rather than costing the whole note its timings."""
    segments = []
    for item in data.get("segments") or []:
        try:
            segments.append(TranscriptSegment.model_validate(item, strict=True))
        except ValidationError:
            continue
    fields: dict[str, Any] = {"segments": segments}
    for name in Transcript.model_fields:
        if name == "segments" or name not in data:
            continue
        value = data[name]
        try:
            Transcript.__pydantic_validator__.validate_assignment(
                Transcript.model_construct(text=""), name, value, strict=True
            )
        except ValidationError:
            continue
        fields[name] = value
    fields.setdefault("text", "")
    return Transcript.model_validate(fields)
