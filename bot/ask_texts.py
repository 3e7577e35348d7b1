"""What the bot says for /ask. The answers are HTML: the model's text and the notes' words
are escaped (they are untrusted), the rest is ours; every message fits Telegram's limit."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, tzinfo

from bot import dates
from bot.i18n import N_, _, translated
from bot.note_texts import model_reason
from bot.texts import MESSAGE_LIMIT, REASON_LIMIT, fit
from notes.ask_passages import Passage

EXCERPT_LIMIT = 300  # characters of a passage shown without a model's answer

# The translated constants (declared for the type checker, answered by __getattr__).
ASK_USAGE: str
NOTHING_FOUND: str
NOTHING_FOUND_IN_SESSION: str
ASK_REBUILDING: str
ASK_UNAVAILABLE: str
PASSAGES_HEADER: str

_TEXTS = {
    "ask_usage": N_("Ask about your notes after /ask, e.g. /ask when is Anna's deadline?"),
    "nothing_found": N_("I found nothing about that in your notes."),
    "nothing_found_in_session": N_("I found nothing about that in this session's notes."),
    "ask_rebuilding": N_(
        "The search index is being rebuilt from the saved sessions, so /ask cannot look yet. "
        "Please try again in a few minutes."
    ),
    "ask_unavailable": N_("/ask is not available right now. Please try again in a few minutes."),
    "passages_header": N_("The passages of your notes that match best:"),
}


def __getattr__(name: str) -> str:
    return translated(_TEXTS, name, __name__)


def reference(passage: Passage, zone: tzinfo = UTC) -> str:
    """A reference as the chat reads it: ``[1] Tue 24 Nov, note 3`` (or ``written note``)."""
    what = (
        _("written note")
        if passage.sequence == 0
        else _("note {number}").format(number=passage.sequence)
    )
    return f"[{passage.number}] {dates.weekday_day(passage.created_at.astimezone(zone))}, {what}"


def _speakers(passage: Passage) -> str:
    return f" ({fit(', '.join(passage.speakers), 80)})" if passage.speakers else ""


def answer(text: str, passages: Sequence[Passage], zone: tzinfo = UTC) -> str:
    """The model's answer (escaped) and its references, in HTML."""
    lines = [html.escape(reference(p, zone) + _speakers(p), quote=False) for p in passages]
    tail = "\n\n" + "\n".join(lines)
    room = limit = MESSAGE_LIMIT - len(tail)
    body = html.escape(fit(text, limit), quote=False)
    while len(body) > room:  # escaping made it longer ("&" is "&amp;")
        limit = limit * 4 // 5
        body = html.escape(fit(text, limit), quote=False)
    return body + tail


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """A passage's words on one line, at most ``limit`` characters."""
    return fit(" ".join(text.split()), limit)


def passages(found: Sequence[Passage], zone: tzinfo = UTC, reason: str | None = None) -> str:
    """The best passages themselves, ranked (no model set up, or it gave no answer), HTML."""
    lines = []
    if reason:
        no_answer = _("No answer: {reason}.").format(reason=fit(model_reason(reason), REASON_LIMIT))
        lines.append(html.escape(no_answer, quote=False))
    lines.append(_(_TEXTS["passages_header"]))
    for passage in found:
        where = html.escape(reference(passage, zone) + _speakers(passage), quote=False)
        lines.append(f"\n<b>{where}</b>\n{html.escape(excerpt(passage.text), quote=False)}")
    return "\n".join(lines)  # at most 5 passages of EXCERPT_LIMIT: well within a message


def get_button(numbers: Sequence[int], passage: Passage, zone: tzinfo = UTC) -> str:
    """The Get button of a referenced session: ``[1][3] Get Tue 24 Nov, 19:47``."""
    cited = "".join(f"[{n}]" for n in numbers)
    when = dates.weekday_moment(passage.created_at.astimezone(zone))
    return _("{cited} Get {when}").format(cited=cited, when=when)


__all__ = [
    "ASK_REBUILDING",
    "ASK_UNAVAILABLE",
    "ASK_USAGE",
    "NOTHING_FOUND",
    "NOTHING_FOUND_IN_SESSION",
    "answer",
    "get_button",
    "passages",
    "reference",
]
