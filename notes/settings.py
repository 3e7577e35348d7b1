"""The notes' settings, read from the environment and ``.env`` like every other package's."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from runtime.settings import ProjectSettings
from sessions.chat_settings import NOTE_STYLES, STYLE_OFF


class NoteSettings(ProjectSettings):
    """``LLM_*``: where the language model is and how it is used (empty base URL: off)."""

    llm_base_url: str = ""
    # A secret: never logged, never stored, never handed to a processor.
    llm_api_key: SecretStr | None = None
    llm_model: str = ""
    llm_default_style: str = STYLE_OFF
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_context_tokens: int = Field(default=8192, ge=1024)
    llm_concurrency: int = Field(default=1, ge=1, le=32)
    llm_prompts_dir: Path | None = None
    # /ask: a model of the same endpoint's /v1/embeddings, for retrieval besides BM25.
    llm_embedding_model: str = ""

    @field_validator("llm_base_url", "llm_embedding_model")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()

    @field_validator("llm_default_style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        value = value.strip().lower() or STYLE_OFF
        # "custom" needs a chat's own instruction: it cannot be a deployment's default.
        if value != STYLE_OFF and (value not in NOTE_STYLES or value == "custom"):
            raise ValueError(f"must be one of off, clean, summary, todo, minutes (not {value!r})")
        return value

    @property
    def enabled(self) -> bool:
        """Whether a language model is set up (``LLM_BASE_URL`` is not empty)."""
        return bool(self.llm_base_url)

    @property
    def embeddings(self) -> bool:
        """Whether /ask uses embeddings (a model set up and ``LLM_EMBEDDING_MODEL`` set)."""
        return self.enabled and bool(self.llm_embedding_model)

    @property
    def secrets(self) -> list[str]:
        """What must be redacted from every log line and output: the API key, if set."""
        return [self.llm_api_key.get_secret_value()] if self.llm_api_key else []
