"""Dates and times as the bot writes them, in the current language (:mod:`bot.i18n`).

English keeps the bot's own compact forms ("Wed 2 Dec, 09:46", "2 Dec 09:46"); every other
language is written with Babel's locale data (CLDR skeletons: "Mi., 2. Dez., 09:46"),
so a new catalog brings its dates with it. The caller converts to
the owner's time zone (``TIMEZONE``) first: these functions only write what they are given.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel import Locale
from babel.dates import format_date, format_skeleton

from bot.i18n import DEFAULT_LOCALE, current_locale

_ANY_MONDAY = date(2024, 1, 1)  # a leap year's Monday: stands in for a date not typed


def babel_locale(name: str) -> Locale:
    """Babel's locale for a catalog's language name ("de", "pt_BR", or "pt-BR")."""
    return Locale.parse(name.replace("-", "_"))


def _locale() -> Locale | None:
    """Babel's locale for the current language; None for English (the bot's own forms)."""
    name = current_locale()
    return None if name == DEFAULT_LOCALE else babel_locale(name)


def _joined(locale: Locale, day: str, clock: str) -> str:
    """A date and a time of day joined as the language joins them ("{1}, {0}")."""
    pattern = str(locale.datetime_formats["medium"])
    return pattern.replace("{1}", day).replace("{0}", clock)


def clock(local: datetime, *, seconds: bool = False) -> str:
    """A time of day: "09:46" ("09:46:05" with ``seconds``)."""
    locale = _locale()
    if locale is None:
        return f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    return format_skeleton("Hms" if seconds else "Hm", local, locale=locale)


def moment(local: datetime, *, year: bool) -> str:
    """A day and a time of day, as people say it: "Wed 2 Dec, 09:46" ("Tue 2 Dec 2025,
    09:46" with ``year``)."""
    locale = _locale()
    if locale is None:
        shown = f" {local.year}" if year else ""
        return f"{local:%a} {local.day} {local:%b}{shown}, {local:%H:%M}"
    day = format_skeleton("yMMMEd" if year else "MMMEd", local, locale=locale)
    return _joined(locale, day, clock(local))


def short_moment(local: datetime, *, year: bool, seconds: bool = False) -> str:
    """The compact form for buttons: "2 Dec 09:46" ("2 Dec 25 09:46" with ``year``)."""
    locale = _locale()
    if locale is None:
        shown = f" {local:%y}" if year else ""
        return f"{local.day} {local:%b}{shown} {clock(local, seconds=seconds)}"
    # Another year's date in the language's short figures ("28.10.25"): a button has no
    # room for "28. Okt. 2025".
    day = (
        format_date(local, "short", locale=locale)
        if year
        else format_skeleton("MMMd", local, locale=locale)
    )
    return f"{day} {clock(local, seconds=seconds)}"


def day_month(local: datetime) -> str:
    """A day of the year without its weekday: "02 Dec"."""
    locale = _locale()
    if locale is None:
        return f"{local:%d %b}"
    return format_skeleton("MMMd", local, locale=locale)


def weekday_day(local: datetime) -> str:
    """A day with its weekday: "Tue 24 Nov"."""
    locale = _locale()
    if locale is None:
        return f"{local:%a %d %b}"
    return format_skeleton("MMMEd", local, locale=locale)


def weekday_moment(local: datetime) -> str:
    """A day with its weekday and time: "Tue 24 Nov, 19:47"."""
    locale = _locale()
    if locale is None:
        return f"{local:%a %d %b, %H:%M}"
    return _joined(locale, weekday_day(local), clock(local))


def partial(
    *,
    year: int | None,
    month: int | None,
    day: int | None,
    weekday: int | None,
    time_of_day: str | None,
) -> str:
    """The parts of a date a person typed, and no others: "Wed 2 Dec 2026 09:47",
    "Wed 09:47", "2 Dec"; ``time_of_day`` is already written ("09:47")."""
    locale = _locale()
    if locale is None:
        parts = []
        if weekday is not None:
            parts.append(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[weekday])
        if day is not None:
            parts.append(str(day))
        if month is not None:
            parts.append(date(2024, month, 1).strftime("%b"))
        if year is not None:
            parts.append(str(year))
        if time_of_day is not None:
            parts.append(time_of_day)
        return " ".join(parts)
    skeleton = (
        ("y" if year is not None else "")
        + ("MMM" if month is not None else "")
        + ("d" if day is not None else "")
        + ("E" if weekday is not None else "")
    )
    if not skeleton:
        return time_of_day or ""
    if day is not None and month is not None:
        stand_in = date(year or 2024, month, day)
    else:  # no whole date: any one that has the typed parts
        stand_in = _ANY_MONDAY.replace(year=year or 2024, month=month or 1)
        if weekday is not None:
            stand_in += timedelta(days=(weekday - stand_in.weekday()) % 7)
    written = format_skeleton(skeleton, stand_in, locale=locale)
    return written if time_of_day is None else _joined(locale, written, time_of_day)
