"""/ask's reply: an :class:`~notes.ask.AskResult` as a message (HTML) and its Get buttons,
one per session referenced, with the session's reference numbers on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

from aiogram.types import InlineKeyboardMarkup

from bot import ask_texts as at
from bot.callbacks import get_buttons
from notes.ask import AskResult, Outcome
from notes.ask_passages import Passage


@dataclass(frozen=True)
class AskReply:
    text: str
    html: bool
    keyboard: InlineKeyboardMarkup | None


def get_keyboard(passages: list[Passage], zone: tzinfo = UTC) -> InlineKeyboardMarkup | None:
    """A Get button per session of ``passages``, in the order first referenced, labelled
    with its references; None without passages."""
    numbers: dict[str, list[int]] = {}
    first: dict[str, Passage] = {}
    for passage in passages:
        numbers.setdefault(passage.session_id, []).append(passage.number)
        first.setdefault(passage.session_id, passage)
    labels = [(at.get_button(numbers[sid], p, zone), sid) for sid, p in first.items()]
    return InlineKeyboardMarkup(inline_keyboard=get_buttons(labels)) if labels else None


def ask_reply(result: AskResult, zone: tzinfo = UTC, *, in_session: bool = False) -> AskReply:
    """The message that answers ``result``."""
    if result.outcome is Outcome.NOTHING:
        text = at.NOTHING_FOUND_IN_SESSION if in_session else at.NOTHING_FOUND
        return AskReply(text, html=False, keyboard=None)
    if result.outcome is Outcome.ANSWER:
        text = at.answer(result.answer, result.passages, zone)
    else:
        text = at.passages(result.passages, zone, result.reason)
    return AskReply(text, html=True, keyboard=get_keyboard(result.passages, zone))


__all__ = ["AskReply", "ask_reply", "get_keyboard"]
