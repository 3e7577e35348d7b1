"""How a session is named for people: by when it began, in the owner's time zone, and by
what it said ("Wed 2 Dec, 09:46 · “Please remember to buy…”"), never by its UTC id.

Pure functions, used by every text that names a session (the transcript's header,
/history, /find, /status, /get's and /forget's answers and buttons). A label is plain
text: a caller writing HTML escapes it. The time zone is not part of a label; a message
says it once (:func:`zone_note`). Dates are in the current language (:mod:`bot.dates`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot import dates
from bot.i18n import N_, _
from bot.texts import notes, zone_note
from sessions import Session

SNIPPET_LIMIT = 32  # characters of the first words in a label (a message line)
BUTTON_LIMIT = 30  # characters of a button's label: what a phone shows on one line
_NO_SPEECH = N_("no speech")

__all__ = [
    "button_labels",
    "first_words_of",
    "moment",
    "session_label",
    "short_moment",
    "snippet",
    "zone_note",
]


def moment(created: datetime, zone: tzinfo, now: datetime) -> str:
    """When a session began, as people say it, in the current language: "Wed 2 Dec, 09:46"
    (the year added when it is not this year's: "Tue 2 Dec 2025, 09:46")."""
    local = created.astimezone(zone)
    return dates.moment(local, year=local.year != now.astimezone(zone).year)


def short_moment(created: datetime, zone: tzinfo, now: datetime, *, seconds: bool = False) -> str:
    """The compact form for buttons: "2 Dec 09:46" ("2 Dec 09:46:05" with ``seconds``;
    "2 Dec 25 09:46" in another year)."""
    local = created.astimezone(zone)
    year = local.year != now.astimezone(zone).year
    return dates.short_moment(local, year=year, seconds=seconds)


def snippet(text: str | None, limit: int = SNIPPET_LIMIT) -> str:
    """The first words of ``text`` on one line, at most ``limit`` characters (cut at a
    word where that keeps at least half, ending in "…" when cut); "" when it has none."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut and not flat[limit - 1].isspace():
        whole = cut.rsplit(" ", 1)[0]
        # Whole words where that keeps most of the room; in a button's few characters, more
        # of the text tells more than a tidy end.
        cut = whole if len(whole) * 2 >= limit else cut
    return cut.rstrip(" ,;:.-") + "…"


def quoted(text: str) -> str:
    return f"\u201c{text}\u201d"


def session_label(
    session: Session,
    first_text: str | None,
    zone: tzinfo,
    now: datetime,
    limit: int = SNIPPET_LIMIT,
    *,
    count: bool = True,
) -> str:
    """The session's name: its start and its first words ("Wed 2 Dec, 09:46 · “Please
    remember to buy…”"), or its start and note count while nothing of it is transcribed
    ("Wed 2 Dec, 09:46 · 3 notes"; without ``count``, where the count is said beside it,
    the start alone). ``first_text`` is its first note with words (:func:`first_words_of`);
    "" means its notes were transcribed and held no speech."""
    head = moment(session.created_at, zone, now)
    words = snippet(first_text, limit)
    if words:
        return f"{head} · {quoted(words)}"
    if first_text is not None:
        return f"{head} · {_(_NO_SPEECH)}"  # said as a remark, never quoted as if spoken
    return f"{head} · {notes(len(session.audio_entries))}" if count else head


def button_labels(
    entries: Sequence[tuple[int, Session, str | None]],
    zone: tzinfo,
    now: datetime,
    limit: int = BUTTON_LIMIT,
) -> list[str]:
    """A button label per (number, session, first text), each at most ``limit`` characters:
    "1. 2 Dec 09:46 Please remember…". Sessions begun in the same minute show their
    seconds too, so two buttons never read the same unless their sessions began in the same
    second and said the same."""
    minutes = Counter(_minute(s, zone) for _, s, _ in entries)
    labels = []
    for number, session, first_text in entries:
        shared = minutes[_minute(session, zone)] > 1
        head = f"{number}. {short_moment(session.created_at, zone, now, seconds=shared)}"
        room = limit - len(head) - 1
        words = snippet(first_text, room) if room >= 4 else ""
        if words:
            labels.append(f"{head} {words}")
        elif first_text is not None and room >= len(_(_NO_SPEECH)) + 2:
            labels.append(f"{head} · {_(_NO_SPEECH)}")
        else:
            count = f"· {notes(len(session.audio_entries))}"
            labels.append(f"{head} {count}" if len(count) <= room else head)
    return [label[:limit] for label in labels]


def first_words_of(texts: Sequence[str | None]) -> str | None:
    """A session's first note with words, from its finished notes' texts in order (None for
    a note whose text is missing): that note's text; "" when every finished note was
    silence; None when no note has a transcript yet."""
    found = [t for t in texts if t is not None]
    if not found:
        return None
    return next((t for t in found if t.strip()), "")


def _minute(session: Session, zone: tzinfo) -> str:
    return f"{session.created_at.astimezone(zone):%Y-%m-%d %H:%M}"
