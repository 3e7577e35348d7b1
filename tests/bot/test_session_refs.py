"""A session named by the local date and time it was recorded, in any unambiguous form."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.session_refs import When, described, matching, parse_when
from sessions import AudioEntry, Session, SessionState

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("09:47", When(hour=9, minute=47)),
        ("9:47", When(hour=9, minute=47)),
        ("9:47:05", When(hour=9, minute=47, second=5)),
        ("9:47pm", When(hour=21, minute=47)),
        ("9:47 PM", When(hour=21, minute=47)),
        ("12:05 am", When(hour=0, minute=5)),
        ("2026-12-02 09:47", When(year=2026, month=12, day=2, hour=9, minute=47)),
        ("2 Dec 09:47", When(month=12, day=2, hour=9, minute=47)),
        ("Dec 2 09:47", When(month=12, day=2, hour=9, minute=47)),
        ("2nd December 2026, 09:47", When(year=2026, month=12, day=2, hour=9, minute=47)),
        ("12-02 09:47", When(month=12, day=2, hour=9, minute=47)),
        ("yesterday 18:10", When(year=2026, month=12, day=1, hour=18, minute=10)),
        ("today", When(year=2026, month=12, day=2)),
        ("2 Dec", When(month=12, day=2)),
        ("2026-12-02", When(year=2026, month=12, day=2)),
        ("wed 09:46", When(weekday=2, hour=9, minute=46)),
        # A label copied from /history: the weekday and the words after it are dropped.
        ("Wed 2 Dec, 09:46 · “Please remember…”", When(month=12, day=2, hour=9, minute=46)),
        ("29 Feb 10:00", When(month=2, day=29, hour=10, minute=0)),
    ],
)
def test_local_dates_and_times_people_type(typed: str, expected: When) -> None:
    assert parse_when(typed, TODAY) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "2026-12-02_08-46-56",  # an id
        "08-47",  # the old UTC short form (hh-mm): no month 8, day 47
        "19-47",
        "08-46-56",
        "5",  # a bare number says no date
        "2026",  # a year alone: part of an id
        "dec",  # a month alone names no session
        "25:00",
        "9:61",
        "31 Feb",
        "13:00 pm",
        "2 Dec 3 Dec",
        "bread",
        "",
    ],
)
def test_what_is_no_date_or_time_is_left_to_the_ids(typed: str) -> None:
    assert parse_when(typed, TODAY) is None


def session(start: datetime, end: datetime | None, sid: str) -> Session:
    return Session(
        session_id=sid,
        chat_id=1,
        state=SessionState.COLLECTING if end is None else SessionState.TRANSCRIBED,
        created_at=start,
        finalized_at=end,
        audio_entries=[AudioEntry(sequence=1, filename="001_audio.ogg", duration_seconds=1)],
    )


def utc(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


# Berlin is UTC+1 in December: 08:46 UTC is 09:46 there.
EARLY = session(utc(2, 8, 46, 56), utc(2, 8, 47, 20), "early")  # 09:46:56 - 09:47:20
SAME_MINUTE = session(utc(2, 8, 47, 30), utc(2, 8, 50), "same-minute")  # from 09:47:30
LONG = session(utc(1, 17, 0), utc(1, 17, 30), "long")  # yesterday 18:00 - 18:30
OPEN = session(utc(2, 11, 0), None, "open")  # 12:00 - now
ALL = [OPEN, SAME_MINUTE, EARLY, LONG]


def named(typed: str) -> list[str]:
    when = parse_when(typed, NOW.astimezone(BERLIN).date())
    assert when is not None
    return [s.session_id for s in matching(when, ALL, BERLIN, NOW)]


def test_a_time_names_the_sessions_begun_in_that_minute_in_local_time() -> None:
    assert named("09:46") == ["early"]
    assert named("2026-12-02 09:46") == ["early"]
    assert named("08:46") == []  # the UTC time is not the owner's
    assert named("1 Dec 09:46") == []


def test_one_begun_in_the_minute_wins_over_one_merely_open_then() -> None:
    # "early" is still open at 09:47:10, but "same-minute" began at 09:47.
    assert named("09:47") == ["same-minute"]
    assert named("09:47:10") == ["early"]  # to the second: only the open one


def test_a_time_names_a_session_open_then() -> None:
    assert named("yesterday 18:10") == ["long"]
    assert named("18:29") == ["long"]
    assert named("18:31") == []
    assert named("12:30") == ["open"]  # still recording: open until now
    assert named("09:49") == ["same-minute"]


def test_a_date_names_the_sessions_begun_that_day() -> None:
    assert named("today") == ["open", "same-minute", "early"]
    assert named("12-01") == ["long"]
    assert named("tue") == ["long"]  # 1 Dec 2026 is a Tuesday


def test_the_bot_repeats_a_time_as_it_read_it() -> None:
    assert described(When(month=12, day=2, hour=9, minute=7)) == "2 Dec 09:07"
    assert described(When(hour=9, minute=7, second=3)) == "09:07:03"
    assert described(When(year=2026, month=1, day=1)) == "1 Jan 2026"
    assert described(When(weekday=2, hour=9, minute=46)) == "Wed 09:46"


def test_a_session_open_for_years_is_still_found_by_its_start() -> None:
    ancient = session(utc(2, 8, 0) - timedelta(days=900), None, "ancient")
    when = parse_when("09:00", TODAY)
    assert when is not None
    assert [s.session_id for s in matching(when, [ancient], BERLIN, NOW)] == ["ancient"]
