# ruff: noqa: RUF001  (Russian expectations are written in Cyrillic on purpose)
"""Dates in the reader's language: German and Russian written with Babel's locale data
(English keeps its own forms, tested with the labels), button labels within a phone's line
in every language, and the dates people type read in their own language's words."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram.utils.i18n import I18n

from bot import dates
from bot.i18n import speaking
from bot.session_labels import BUTTON_LIMIT, button_labels, session_label
from bot.session_refs import ENGLISH, When, date_words, described, matching, parse_when
from tests.bot.test_session_labels import NOW, START, session

BERLIN = ZoneInfo("Europe/Berlin")
LOCAL = START.astimezone(BERLIN)  # Wed 2 Dec 2026, 09:46:56
TODAY = date(2026, 12, 2)


@pytest.mark.usefixtures("german")
def test_german_dates() -> None:
    assert dates.moment(LOCAL, year=False) == "Mi., 2. Dez., 09:46"
    assert dates.moment(LOCAL, year=True) == "Mi., 2. Dez. 2026, 09:46"
    assert dates.short_moment(LOCAL, year=False) == "2. Dez. 09:46"
    assert dates.short_moment(LOCAL, year=True, seconds=True) == "02.12.26 09:46:56"
    assert dates.day_month(LOCAL) == "2. Dez."
    assert dates.weekday_moment(LOCAL) == "Mi., 2. Dez., 09:46"
    assert session_label(session(), "Bitte Brot kaufen", BERLIN, NOW) == (
        "Mi., 2. Dez., 09:46 · “Bitte Brot kaufen”"
    )


@pytest.mark.usefixtures("russian")
def test_russian_dates() -> None:
    assert dates.moment(LOCAL, year=False) == "ср, 2 дек., 09:46"
    assert dates.short_moment(LOCAL, year=False) == "2 дек. 09:46"
    assert dates.clock(LOCAL, seconds=True) == "09:46:56"
    assert dates.weekday_day(LOCAL) == "ср, 2 дек."
    assert session_label(session(), None, BERLIN, NOW) == "ср, 2 дек., 09:46 · 3 сообщения"


def test_english_keeps_its_own_forms() -> None:
    assert dates.moment(LOCAL, year=True) == "Wed 2 Dec 2026, 09:46"
    assert dates.short_moment(LOCAL, year=True, seconds=True) == "2 Dec 26 09:46:56"
    assert dates.day_month(LOCAL) == "02 Dec"
    assert dates.weekday_moment(LOCAL) == "Wed 02 Dec, 09:46"


@pytest.mark.parametrize("language", ["en", "de", "ru"])
def test_buttons_fit_a_phone_in_every_language(i18n: I18n, language: str) -> None:
    a = session(START)
    b = session(START + timedelta(seconds=2))  # the same minute: seconds shown
    c = session(START - timedelta(days=400), notes=1)  # another year
    entries = [(1, a, "Ein langer Satz " * 5), (2, b, None), (3, c, None), (10, c, "")]
    with speaking(i18n, language):
        labels = button_labels(entries, BERLIN, NOW)
        for (number, s, _), label in zip(entries, labels, strict=True):
            local = s.created_at.astimezone(BERLIN)
            head = f"{number}. " + dates.short_moment(local, year=s is c, seconds=s is not c)
            assert label.startswith(head)  # the whole date and time, never cut
            assert len(label) <= BUTTON_LIMIT


@pytest.mark.parametrize(
    ("language", "typed", "expected"),
    [
        ("de", "heute 09:46", When(year=2026, month=12, day=2, hour=9, minute=46)),
        ("de", "gestern", When(year=2026, month=12, day=1)),
        ("de", "2. Dezember 09:46", When(month=12, day=2, hour=9, minute=46)),
        ("de", "Mittwoch 09:46", When(weekday=2, hour=9, minute=46)),
        ("de", "Mi., 2. Dez., 09:46 · “Bitte…”", When(month=12, day=2, hour=9, minute=46)),
        ("de", "yesterday", When(year=2026, month=12, day=1)),  # English words too
        ("de", "3 März", When(month=3, day=3)),
        ("ru", "сегодня 09:46", When(year=2026, month=12, day=2, hour=9, minute=46)),
        ("ru", "вчера", When(year=2026, month=12, day=1)),
        ("ru", "2 декабря", When(month=12, day=2)),
        ("ru", "ср 09:46", When(weekday=2, hour=9, minute=46)),
        ("ru", "ср, 2 дек. 2026 г., 09:46", When(year=2026, month=12, day=2, hour=9, minute=46)),
        ("ru", "2 Dec 09:46", When(month=12, day=2, hour=9, minute=46)),
    ],
)
def test_people_type_dates_in_their_language(
    i18n: I18n, language: str, typed: str, expected: When
) -> None:
    with speaking(i18n, language):
        words = date_words()
    assert parse_when(typed, TODAY, words) == expected


def test_english_reads_no_other_languages_words() -> None:
    assert date_words() is ENGLISH
    assert parse_when("heute", TODAY) is None
    assert parse_when("вчера", TODAY) is None


@pytest.mark.parametrize("language", ["en", "de", "ru"])
def test_a_copied_label_names_its_session_in_every_language(i18n: I18n, language: str) -> None:
    wanted, other = session(START), session(START + timedelta(minutes=5))
    old = session(START - timedelta(days=400))
    with speaking(i18n, language):
        words = date_words()
        for target in (wanted, old):
            label = session_label(target, "Bitte", BERLIN, NOW)
            when = parse_when(label, TODAY, words)
            assert when is not None, label
            assert matching(when, [wanted, other, old], BERLIN, NOW) == [target], label


def test_the_bot_repeats_a_date_in_the_readers_language(i18n: I18n) -> None:
    full = When(year=2026, month=12, day=2, hour=9, minute=47)
    weekday = When(weekday=2, hour=9, minute=47)
    with speaking(i18n, "de"):
        assert described(full) == "2. Dez. 2026, 09:47"
        assert described(weekday) == "Mi, 09:47"
        assert described(When(hour=9, minute=47, second=5)) == "09:47:05"
    with speaking(i18n, "ru"):
        assert described(full) == "2 дек. 2026\u202fг., 09:47"  # CLDR's narrow space
    assert described(full) == "2 Dec 2026 09:47"


def test_dates_are_in_the_time_zone_given() -> None:
    """The functions write what they are given; the caller's zone decides the hour."""
    assert dates.moment(START.astimezone(UTC), year=False) == "Wed 2 Dec, 08:46"
    assert dates.moment(LOCAL, year=False) == "Wed 2 Dec, 09:46"
    assert datetime(2026, 12, 2, tzinfo=UTC).date() == TODAY
