"""Reading a session reference as a person types it: the local date and time they recorded
it (``09:47``, ``2026-12-02 09:47``, ``2 Dec 09:47``, ``12-02 09:47``, ``yesterday 18:10``,
a label copied from /history, ``Wed 2 Dec, 09:46 · “Please…”``), in the owner's time zone.

Pure functions. :func:`parse_when` turns the text into a :class:`When` (or None when the
text is no date or time, e.g. a session id or a part of one); :func:`matching` picks the
sessions it names. The words for days and months are English's and, from
:func:`date_words` (which reads the current language), the reader's own ("heute 09:47",
"2. Dez.", "вчера").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from babel.dates import format_skeleton

from bot import dates
from bot.i18n import DEFAULT_LOCALE, N_, _, current_locale
from sessions import Session, SessionState

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
_TODAY, _YESTERDAY = N_("today"), N_("yesterday")  # typed: each language's own words too
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTH_DAY = re.compile(r"(\d{1,2})-(\d{1,2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(am|pm)?")
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_YEAR = re.compile(r"\d{4}")
# Where a copied label's words begin: what follows is what the session said, not when.
_LABEL_WORDS = re.compile(r"[·\u201c\"«]")
_SPANS_SCANNED = 400  # days of one session's life checked for a time of day (a session
# left open for longer is found by its start and its last days)


@dataclass(frozen=True)
class DateWords:
    """The words for days a person may type: English's, and their own language's."""

    today: frozenset[str]
    yesterday: frozenset[str]
    months: Mapping[str, int]
    weekdays: Mapping[str, int]
    ignored: frozenset[str] = frozenset()  # a date's own words in a copied label


ENGLISH = DateWords(frozenset({"today"}), frozenset({"yesterday"}), _MONTHS, _WEEKDAYS)


def date_words() -> DateWords:
    """English's words and the current language's (its catalog's "today" and "yesterday",
    Babel's month and weekday names, whole and abbreviated, with or without their dot)."""
    name = current_locale()
    if name == DEFAULT_LOCALE:
        return ENGLISH
    locale = dates.babel_locale(name)
    months, weekdays = dict(_MONTHS), dict(_WEEKDAYS)
    for context in ("format", "stand-alone"):
        for width in ("abbreviated", "wide"):
            for number, month in locale.months[context][width].items():
                months.setdefault(_word(month), number)
            for number, day in locale.days[context][width].items():
                weekdays.setdefault(_word(day), number)
    # What a date says besides its numbers and names: the year's word in Russian
    sample = format_skeleton("yMMMEd", date(2026, 12, 2), locale=locale)
    ignored = {_word(t) for t in re.split(r"[\s,]+", sample)} - set(months) - set(weekdays)
    return DateWords(
        today=frozenset({"today", _word(_(_TODAY))}),
        yesterday=frozenset({"yesterday", _word(_(_YESTERDAY))}),
        months=months,
        weekdays=weekdays,
        ignored=frozenset(w for w in ignored if w and not w.isdigit()),
    )


def _word(text: str) -> str:
    return text.strip().lower().rstrip(".")


@dataclass(frozen=True)
class When:
    """A local date and/or time of day, as typed; unset parts match any."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    weekday: int | None = None  # only when no day was given: "wed 09:46"
    hour: int | None = None
    minute: int | None = None
    second: int | None = None

    @property
    def has_time(self) -> bool:
        return self.hour is not None


def parse_when(typed: str, today: date, words: DateWords = ENGLISH) -> When | None:
    """``typed`` as a local date and/or time of day, or None when it is not one (an id, a
    part of an id such as ``08-47``, words). ``today`` is the owner's date, for "today"
    and "yesterday"; ``words`` the names of days and months understood
    (:func:`date_words`)."""
    text = _LABEL_WORDS.split(typed.strip().lower(), maxsplit=1)[0]
    # "Mi., 2. Dez." is German's "Wed 2 Dec": a word's or a day's dot says nothing more.
    tokens = [t for t in (_word(t) for t in re.split(r"[\s,]+", text)) if t]
    tokens = [t for t in tokens if t not in words.ignored]
    if not tokens:
        return None
    parts: dict[str, int] = {}
    pending_day: int | None = None  # a bare number: a day, if a month name goes with it
    for n, token in enumerate(tokens):
        if token in ("am", "pm") and "hour" in parts and n > 0:
            if not _set_meridiem(parts, token):
                return None
            continue
        if not _read_token(token, today, parts, words):
            day = _DAY.fullmatch(token)
            if day is None or pending_day is not None or "day" in parts:
                return None
            pending_day = int(day.group(1))
    if pending_day is not None:
        if "month" not in parts:
            return None  # "5" alone says no date: leave it to the ids
        parts["day"] = pending_day
    return _checked(parts)


def _read_token(token: str, today: date, parts: dict[str, int], words: DateWords) -> bool:
    """Read one token into ``parts``; False when it is no date or time part (or repeats one)."""

    def put(**values: int) -> bool:
        if any(key in parts for key in values):
            return False
        parts.update(values)
        return True

    if token in words.today or token in words.yesterday:
        day = today - timedelta(days=1 if token in words.yesterday else 0)
        return put(year=day.year, month=day.month, day=day.day)
    if token in words.months:
        return put(month=words.months[token])
    if token in words.weekdays:
        return put(weekday=words.weekdays[token])
    if match := _ISO_DATE.fullmatch(token):
        return put(year=int(match[1]), month=int(match[2]), day=int(match[3]))
    if match := _MONTH_DAY.fullmatch(token):
        return put(month=int(match[1]), day=int(match[2]))
    if match := _CLOCK.fullmatch(token):
        clock = {"hour": int(match[1]), "minute": int(match[2])}
        if match[3] is not None:
            clock["second"] = int(match[3])
        if not put(**clock):
            return False
        return match[4] is None or _set_meridiem(parts, match[4])
    if _YEAR.fullmatch(token):
        return put(year=int(token))
    return False


def _set_meridiem(parts: dict[str, int], meridiem: str) -> bool:
    hour = parts["hour"]
    if not 1 <= hour <= 12:
        return False
    parts["hour"] = hour % 12 + (12 if meridiem == "pm" else 0)
    return True


def _checked(parts: dict[str, int]) -> When | None:
    """The parts as a :class:`When`, or None when they name no real date or time."""
    if "weekday" in parts and "day" in parts:
        del parts["weekday"]  # a copied label says both; the date is what counts
    when = When(**parts)
    if when.month is not None and not 1 <= when.month <= 12:
        return None
    if when.day is not None:
        if when.month is None:
            return None
        try:  # 2024 is a leap year: 29 Feb without a year is a real date
            date(when.year or 2024, when.month, when.day)
        except ValueError:
            return None
    elif when.year is not None and when.month is None:
        return None  # a year alone: more likely part of an id
    if when.hour is not None and not (
        0 <= when.hour <= 23
        and when.minute is not None
        and 0 <= when.minute <= 59
        and 0 <= (when.second or 0) <= 59
    ):
        return None
    if when.hour is None and when.day is None and when.weekday is None:
        return None  # a month alone is too little to name a session
    return when


def matching(when: When, sessions: Iterable[Session], zone: tzinfo, now: datetime) -> list[Session]:
    """The sessions ``when`` names, in the order given.

    A date alone names the sessions begun that day. A time of day names the sessions begun
    within that minute (or second, when typed), and when none was, the sessions open at
    that time: recording began before and ended after it. Sessions begun within the minute
    win over ones merely open then, because people name a session by when they started
    it; the one before, finished a few seconds into that minute, would make every such
    reference ambiguous.
    """
    begun: list[Session] = []
    open_then: list[Session] = []
    for session in sessions:
        start = session.created_at.astimezone(zone)
        if not when.has_time:
            if _day_matches(when, start.date()):
                begun.append(session)
            continue
        end = _ended(session, now).astimezone(zone)
        windows = list(_windows(when, start.date(), end.date(), zone))
        if any(low <= start < high for low, high in windows):
            begun.append(session)
        elif any(start < high and end >= low for low, high in windows):
            open_then.append(session)
    return begun or open_then


def _ended(session: Session, now: datetime) -> datetime:
    """When the session stopped recording: finished, or now while it is open."""
    if session.finalized_at is not None:
        return session.finalized_at
    if session.state is SessionState.COLLECTING:
        return now
    received = [e.received_at for e in session.audio_entries]
    return max([session.created_at, *received])


def _windows(
    when: When, first: date, last: date, zone: tzinfo
) -> Iterable[tuple[datetime, datetime]]:
    """The stretches of local time ``when`` names on each day from ``first`` to ``last``."""
    hour, minute = when.hour or 0, when.minute or 0  # set: only a time of day has windows
    days = (last - first).days
    offsets: Sequence[int] = range(days + 1)
    if days >= _SPANS_SCANNED:
        offsets = [*range(_SPANS_SCANNED // 2), *range(days - _SPANS_SCANNED // 2, days + 1)]
    for offset in offsets:
        day = first + timedelta(days=offset)
        if not _day_matches(when, day):
            continue
        clock = time(hour, minute, when.second or 0)
        low = datetime.combine(day, clock, tzinfo=zone)
        span = timedelta(seconds=1) if when.second is not None else timedelta(minutes=1)
        yield low, low + span


def _day_matches(when: When, day: date) -> bool:
    return (
        (when.year is None or when.year == day.year)
        and (when.month is None or when.month == day.month)
        and (when.day is None or when.day == day.day)
        and (when.weekday is None or when.weekday == day.weekday())
    )


def described(when: When) -> str:
    """``when`` as the bot repeats it, in the current language: "2 Dec 2026 09:47",
    "09:47", "Wed 09:47"."""
    clock = None
    if when.hour is not None:
        seconds = f":{when.second:02d}" if when.second is not None else ""
        clock = f"{when.hour:02d}:{when.minute:02d}{seconds}"
    return dates.partial(
        year=when.year, month=when.month, day=when.day, weekday=when.weekday, time_of_day=clock
    )
