"""The prompts: one file per style in ``notes/prompts/``, which the owner may override with a
file of the same name in ``LLM_PROMPTS_DIR``, filled with the session's language and speakers.

A prompt file is plain text with ``$language_rule``, ``$speaker_rule``, ``$instruction``,
``$part`` and ``$parts`` where those go (``string.Template``; other ``$`` signs stay as
they are). The files are read at each use, so an edited override applies to the next note.
The reads block: call :meth:`Prompts.system` from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

import structlog

BUNDLED = Path(__file__).resolve().parent / "prompts"
NAMES = ("clean", "summary", "todo", "minutes", "custom", "reply", "condense")
"""The prompts of written notes: each is filled with the session's language and speakers."""
QUESTION_NAMES = ("ask",)
"""Prompts of another kind: /ask's (its passages carry their own dates and speakers)."""
_MAX_PROMPT_BYTES = 64 * 1024

_log = structlog.get_logger("notes.prompts")


@dataclass(frozen=True)
class Context:
    """What every prompt says of the session: its language, its speakers (the labels of its
    notes: members, forwards) and the voices inside its recordings (the turns' names:
    "Speaker 1" or the name a chat gave it), each as the transcript writes them."""

    language: str | None  # a language code ("de"), or None: the transcript's own
    speakers: Sequence[str] = ()
    voices: Sequence[str] = ()

    @property
    def language_rule(self) -> str:
        if self.language:
            return (
                f'Write in the language whose ISO 639 code is "{self.language}", '
                "whatever language the text is in"
            )
        return "Write in the same language as the transcript"

    @property
    def speaker_rule(self) -> str:
        # The names as the transcript writes them, kept: a model tends to drop "Speaker 2"
        # or to guess a name for it, and the chat's names are what the reader knows.
        voices = ", ".join(self.voices)
        if self.speakers:
            names = ", ".join(self.speakers)
            rule = (
                f"The speakers are: {names}. The transcript begins each speaker's part with "
                "their name and a colon; call them by exactly these names and invent no others"
            )
            if voices:
                rule += (
                    f". Inside their recordings, each voice's turn begins with its name and a "
                    f"colon: {voices}; call those voices by exactly these names too"
                )
            return rule
        if voices:
            return (
                f"The transcript is a recording of several voices: {voices}. It begins each "
                "voice's turn with its name and a colon; call them by exactly these names "
                '(a "Speaker 2" stays "Speaker 2"), never guess other names, invent none'
            )
        return "The transcript is one person's notes: name no speakers and invent none"


class Prompts:
    """The prompt files, the owner's first (``override``), then the bundled ones."""

    def __init__(self, override: Path | None = None) -> None:
        self._override = override

    def template(self, name: str) -> str:
        """The text of prompt ``name`` (one of :data:`NAMES`)."""
        if name not in NAMES and name not in QUESTION_NAMES:
            raise ValueError(f"no prompt called {name!r}")
        if self._override is not None:
            text = _read(self._override / f"{name}.md")
            if text is not None:
                return text
        text = _read(BUNDLED / f"{name}.md")
        if text is None:
            raise FileNotFoundError(f"the bundled prompt {name}.md is missing")
        return text

    def system(
        self,
        name: str,
        context: Context,
        *,
        instruction: str | None = None,
        part: int = 1,
        parts: int = 1,
    ) -> str:
        """Prompt ``name`` filled in for a session."""
        return Template(self.template(name)).safe_substitute(
            language_rule=context.language_rule,
            speaker_rule=context.speaker_rule,
            instruction=instruction or "",
            part=str(part),
            parts=str(parts),
        )


def _read(path: Path) -> str | None:
    """A prompt file's text; None when it is missing, not a plain file, too big or not
    UTF-8 (an override that cannot be used is logged, and the bundled prompt serves)."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_PROMPT_BYTES:
            if path.exists():
                _log.warning("prompt_file_unusable", file=path.name)
            return None
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        _log.warning("prompt_file_unreadable", file=path.name, error=type(exc).__name__)
        return None
    return text or None


__all__ = ["BUNDLED", "NAMES", "QUESTION_NAMES", "Context", "Prompts"]
