"""The written notes' styles, and which one a chat gets after its transcripts."""

from __future__ import annotations

from enum import StrEnum

from sessions.chat_settings import STYLE_OFF, ChatSettings


class Style(StrEnum):
    CLEAN = "clean"
    SUMMARY = "summary"
    TODO = "todo"
    MINUTES = "minutes"
    CUSTOM = "custom"


TITLES = {
    Style.CLEAN: "Clean text",
    Style.SUMMARY: "Summary",
    Style.TODO: "To-dos",
    Style.MINUTES: "Minutes",
    Style.CUSTOM: "Note",
}
REPLY_TITLE = "Answer"


def parse_style(text: str) -> Style | None:
    """``"summary"`` -> Style.SUMMARY, ``"off"`` -> None; ValueError for anything else."""
    word = text.strip().lower()
    if word == STYLE_OFF:
        return None
    try:
        return Style(word)
    except ValueError:
        raise ValueError(f"unknown note style: {word[:40]!r}") from None


def chat_style(settings: ChatSettings, default_style: str) -> tuple[Style | None, str | None]:
    """The style of the note after a chat's transcripts and its custom instruction: the
    chat's own ``/style``, else the deployment's default. A custom style without an
    instruction (settings from elsewhere) makes no note."""
    chosen = settings.style if settings.style is not None else default_style
    try:
        style = parse_style(chosen)
    except ValueError:
        return None, None
    if style is Style.CUSTOM:
        if not settings.style_instruction:
            return None, None
        return style, settings.style_instruction
    return style, None
