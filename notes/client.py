"""One chat completion from the owner's OpenAI-compatible endpoint, through the ``openai``
client: its timeout per request, its bounded retries with backoff for what a retry can
fix (refused or dropped connections, timeouts, 408, 409, 429, 5xx), and its typed errors.

An answer that arrives but is of no use (no text, or a body that is not a completion) is
asked again here, a bounded number of times with a growing pause. What still fails raises
:class:`ModelError` with one plain reason for people: no setting's name, no address, never
the key. The key goes only into the request's header; nothing here logs it or the texts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:  # imported when a client is made: it takes seconds, and not every bot has one
    import openai

from notes.settings import NoteSettings

DID_NOT_ANSWER = "the language model did not answer"
BUSY = "the language model is busy"
REFUSED_ACCESS = "the language model refused the bot's access"
NOT_FOUND = "the language model was not found"
REFUSED_REQUEST = "the language model refused the request"
NO_USABLE_ANSWER = "the language model gave no usable answer"

# The openai client's own retries of one request (each waits 0.5-8 s, or what the server's
# Retry-After asks, up to a limit): 3 tries in all.
CLIENT_RETRIES = 2
# Pauses before asking again after an answer of no use: 3 asks in all.
EMPTY_RETRY_DELAYS = (1.0, 3.0)

_log = structlog.get_logger("notes.client")
# Reasoning models (Qwen3, DeepSeek-R1) may put their thinking first: it is not the note.
_THINKING = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


class ModelError(Exception):
    """The model gave no usable answer after the retries; ``reason`` says why, plainly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ModelClient:
    """Chat completions from one endpoint and model (``LLM_BASE_URL``, ``LLM_MODEL``)."""

    def __init__(
        self,
        settings: NoteSettings,
        *,
        retries: int = CLIENT_RETRIES,
        empty_retry_delays: Sequence[float] = EMPTY_RETRY_DELAYS,
    ) -> None:
        import openai

        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        self._model = settings.llm_model or "default"
        self._delays = tuple(empty_retry_delays)
        # The key is passed, never read from OPENAI_API_KEY; a local server needs none, but
        # the client wants one: a placeholder that is no secret.
        self._client = openai.AsyncOpenAI(
            api_key=key or "no-key",
            base_url=settings.llm_base_url,
            timeout=settings.llm_timeout_seconds,
            max_retries=retries,
        )

    async def complete(self, system: str, user: str, *, max_tokens: int) -> Completion:
        """The model's answer to ``user`` under ``system``; ModelError when there is none."""
        for attempt, delay in enumerate((*self._delays, None), start=1):
            response = await self._create(system, user, max_tokens)
            completion = _completion(response)
            if completion is not None:
                return completion
            _log.warning("model_answer_unusable", attempt=attempt, model=self._model)
            if delay is None:
                break
            await asyncio.sleep(delay)
        raise ModelError(NO_USABLE_ANSWER)

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """The endpoint's embeddings (``/v1/embeddings``) of ``texts``, in their order;
        ModelError when there are none (after the client's bounded retries)."""
        try:
            response = await self._client.embeddings.create(model=model, input=texts)
        except openai.APIResponseValidationError:
            raise ModelError(NO_USABLE_ANSWER) from None
        except openai.APIError as exc:
            _log.warning(
                "embedding_request_failed",
                error=type(exc).__name__,
                status=getattr(exc, "status_code", None),
                model=model,
            )
            raise ModelError(_reason(exc)) from None
        except ValueError:
            raise ModelError(NO_USABLE_ANSWER) from None
        data = sorted(getattr(response, "data", None) or [], key=lambda d: d.index)
        vectors = [list(d.embedding) for d in data if isinstance(d.embedding, list)]
        if len(vectors) != len(texts) or not all(vectors):
            raise ModelError(NO_USABLE_ANSWER)
        return vectors

    async def close(self) -> None:
        await self._client.close()

    async def _create(self, system: str, user: str, max_tokens: int) -> Any:
        import openai  # already loaded by __init__

        try:
            return await self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                max_tokens=max_tokens,
                temperature=0.2,
            )
        except openai.APIResponseValidationError:
            return None  # a body that is not a completion: asked again like an empty one
        except openai.APIError as exc:
            reason = _reason(exc)
            # The class and status only: the exception's text may quote the server's body.
            _log.warning(
                "model_request_failed",
                error=type(exc).__name__,
                status=getattr(exc, "status_code", None),
                model=self._model,
            )
            raise ModelError(reason) from None
        except ValueError:  # a body that is not JSON at all, as some versions raise it
            return None


def _reason(exc: openai.APIError) -> str:
    import openai  # already loaded by the client

    if isinstance(exc, openai.RateLimitError):
        return BUSY
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return REFUSED_ACCESS
    if isinstance(exc, openai.NotFoundError):
        return NOT_FOUND
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return REFUSED_REQUEST
    return DID_NOT_ANSWER  # connection refused or lost, timeout, 5xx


def _completion(response: Any) -> Completion | None:
    """The text of a completion, or None when the response holds none (read defensively:
    a server that is not quite compatible may send any shape)."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        return None
    message = getattr(choices[0], "message", None)
    text = getattr(message, "content", None)
    if not isinstance(text, str):
        return None
    text = _THINKING.sub("", text, count=1)
    if not text.strip():
        return None
    usage = getattr(response, "usage", None)
    return Completion(
        text=text.strip(),
        prompt_tokens=_count(getattr(usage, "prompt_tokens", 0)),
        completion_tokens=_count(getattr(usage, "completion_tokens", 0)),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


__all__ = ["Completion", "ModelClient", "ModelError"]
