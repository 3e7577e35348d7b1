"""A chat's settings as they shape the decoding of one note: its language and vocabulary.

They come from the session manager's chat settings for every note, and travel with the job
on the task queue, so the in-process model and the workers decode a note alike.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sessions.chat_settings import AUTO_LANGUAGE, ChatSettings

MAX_HOTWORDS_CHARS = 4000
_SEPARATOR = ", "  # between the words, as ChatSettings.hotwords writes them


class DecodeOptions(BaseModel):
    """Per-note decoding options. ``language``: None (the deployment's ``WHISPER_LANGUAGE``),
    ``"auto"`` (detect it) or a code; ``hotwords``: the chat's vocabulary as one text,
    which faster-whisper puts in the model's prompt (it cuts it at 223 tokens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str | None = Field(default=None, pattern=r"^(auto|[a-z]{2,3})$")
    hotwords: str | None = Field(default=None, min_length=1, max_length=MAX_HOTWORDS_CHARS)
    # Speaker turns inside the recording (diarization after Whisper): the chat's /speakers,
    # honoured only where the owner enabled DIARIZATION.
    diarize: bool = False

    @classmethod
    def from_chat(cls, settings: ChatSettings) -> DecodeOptions:
        """The chat's options (``diarize``: its ``/speakers``, which the transcription
        honours only with the owner's ``DIARIZATION``). A vocabulary longer than
        ``hotwords`` may be (stored under other limits: they are not checked again when
        read) is cut after its last whole word that fits; the model reads only its first
        223 tokens anyway."""
        return cls(
            language=settings.language,
            hotwords=_cut(settings.hotwords()),
            diarize=settings.speakers,
        )

    def language_for(self, deployment_language: str | None) -> str | None:
        """The language to hand faster-whisper (None: detect it)."""
        if self.language is None:
            return deployment_language
        return None if self.language == AUTO_LANGUAGE else self.language


def _cut(hotwords: str | None) -> str | None:
    if hotwords is None or len(hotwords) <= MAX_HOTWORDS_CHARS:
        return hotwords
    head = hotwords[: MAX_HOTWORDS_CHARS + len(_SEPARATOR)]
    last = head.rfind(_SEPARATOR)
    return head[:last] if last > 0 else hotwords[:MAX_HOTWORDS_CHARS]


DEFAULT_OPTIONS = DecodeOptions()

__all__ = ["DEFAULT_OPTIONS", "MAX_HOTWORDS_CHARS", "DecodeOptions"]
