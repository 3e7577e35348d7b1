"""Sessions named as people name them: when they began, in the owner's time zone, and what
they said; short enough for a phone's button, and two of the same minute told apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.session_labels import (
    BUTTON_LIMIT,
    button_labels,
    first_words_of,
    moment,
    session_label,
    snippet,
)
from sessions import AudioEntry, Session

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 2, 8, 46, 56, tzinfo=UTC)  # 09:46 in Berlin
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def session(created: datetime = START, notes: int = 3, suffix: str = "") -> Session:
    entries = [
        AudioEntry(sequence=n, filename=f"{n:03d}_audio.ogg", duration_seconds=2.0)
        for n in range(1, notes + 1)
    ]
    return Session(
        session_id=f"{created:%Y-%m-%d_%H-%M-%S}{suffix}",
        chat_id=1,
        created_at=created,
        audio_entries=entries,
    )


def test_a_label_is_the_local_start_and_the_first_words() -> None:
    said = "Please remember to buy fresh bread and milk on the way home."
    label = session_label(session(), said, BERLIN, NOW)
    assert label == "Wed 2 Dec, 09:46 · “Please remember to buy fresh…”"
    assert "2026-12-02_08-46-56" not in label  # the UTC id is no name


def test_without_a_transcript_the_label_counts_notes_and_silence_is_no_quote() -> None:
    assert session_label(session(), None, BERLIN, NOW) == "Wed 2 Dec, 09:46 · 3 notes"
    assert session_label(session(), None, BERLIN, NOW, count=False) == "Wed 2 Dec, 09:46"
    silent = session_label(session(), "", BERLIN, NOW)
    assert silent == "Wed 2 Dec, 09:46 · no speech"
    assert "“" not in silent


def test_another_years_session_says_its_year() -> None:
    assert moment(START, BERLIN, NOW + timedelta(days=60)) == "Wed 2 Dec 2026, 09:46"
    assert moment(START, UTC, NOW) == "Wed 2 Dec, 08:46"


def test_snippets_are_bounded_on_one_line_and_cut_at_words() -> None:
    assert snippet("  one\n two\tthree ") == "one two three"
    cut = snippet("alpha beta gamma delta", 14)
    assert cut == "alpha beta…"
    assert len(cut) <= 14
    assert snippet("x" * 100, 10) == "x" * 9 + "…"
    assert snippet(None) == ""


def test_first_words_come_from_the_first_note_with_words() -> None:
    assert first_words_of([None, "", "  ", "hello there", "later"]) == "hello there"
    assert first_words_of(["", " "]) == ""  # transcribed, but silence
    assert first_words_of([None, None]) is None  # nothing transcribed yet
    assert first_words_of([]) is None


def test_buttons_fit_a_phone_and_tell_two_sessions_of_one_minute_apart() -> None:
    a = session(START)
    b = session(START + timedelta(seconds=2))  # the same minute
    c = session(START - timedelta(days=400), notes=1)  # another year
    long_words = "Supercalifragilistic expialidocious words that go on and on " * 3
    labels = button_labels(
        [(1, a, long_words), (2, b, long_words), (3, c, None), (10, a, "")], BERLIN, NOW
    )
    assert all(len(label) <= BUTTON_LIMIT for label in labels)
    assert labels[0].startswith("1. 2 Dec 09:46:56 ")
    assert labels[1].startswith("2. 2 Dec 09:46:58 ")
    assert labels[0][3:] != labels[1][3:]  # told apart without their numbers
    assert labels[2] == "3. 28 Oct 25 09:46 · 1 note"
    assert labels[3] == "10. 2 Dec 09:46:56 · no speech"
    alone = button_labels([(1, a, "Call Anna back"), (2, c, "Please remember")], BERLIN, NOW)
    assert alone == ["1. 2 Dec 09:46 Call Anna back", "2. 28 Oct 25 09:46 Please…"]
