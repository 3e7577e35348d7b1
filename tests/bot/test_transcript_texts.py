"""The delivered transcript as HTML: escaped, in the owner's time zone, every note in its
place, split at note boundaries into messages Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.transcript_texts import FOLD_AT, Transcript, build_transcript, telegram_length
from runtime.settings import TimeZoneSettings, describe_invalid
from sessions import AudioEntry, ErrorEntry, Session, TranscriptionStatus
from tests.fake_telegram import render_html

START = datetime(2026, 11, 24, 19, 47, 41, tzinfo=UTC)
COMPLETED = TranscriptionStatus.COMPLETED
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+5:30: the date and the minutes both move


def entry(sequence: int, *, failed: bool = False, mime: str | None = None) -> AudioEntry:
    return AudioEntry(
        sequence=sequence,
        filename=f"{sequence:03d}_audio.ogg",
        duration_seconds=5,
        mime_type=mime,
        received_at=START + timedelta(minutes=sequence),
        transcription_status=TranscriptionStatus.FAILED
        if failed
        else TranscriptionStatus.COMPLETED,
        error="cannot decode /srv/bot/data/sessions/x/audio/002_audio.ogg: [Errno 5]"
        if failed
        else None,
    )


def session(*entries: AudioEntry, errors: list[ErrorEntry] | None = None) -> Session:
    return Session(
        session_id="2026-11-24_19-47-41",
        chat_id=1,
        created_at=START,
        audio_entries=list(entries),
        errors=errors or [],
    )


def shown(messages: list[str]) -> list[str]:
    """What the chat shows for each message (raises like Telegram on malformed HTML)."""
    return [render_html(m) for m in messages]


def test_transcript_text_is_escaped_and_shows_as_said() -> None:
    said = "use <b> & </b> then <i>x</i> &amp; done"
    built = build_transcript(session(entry(1)), {1: said}, UTC)
    [message] = built.messages
    assert "<b> & </b>" not in message  # sent escaped...
    assert "&lt;b&gt; &amp; &lt;/b&gt;" in message
    assert shown(built.messages)[0].endswith("\n" + said)  # ... and shows as said
    assert said in built.plain


def test_header_and_note_times_are_in_the_owners_time_zone() -> None:
    later = datetime(2027, 1, 5, tzinfo=UTC)  # another year: the label says which
    built = build_transcript(session(entry(1), entry(2)), {1: "one", 2: "two"}, KOLKATA, now=later)
    [text] = shown(built.messages)
    lines = text.split("\n")
    # 19:47 UTC is 01:17 the next day in Kolkata; the label names the session, not its id.
    assert lines[0] == "Transcript: Wed 25 Nov 2026, 01:17 · “one”"
    assert lines[1] == "2 notes, 0:10 · times in Asia/Kolkata"
    assert lines[2] == "Session id 2026-11-24_19-47-41"  # for those who name sessions by it
    assert "Note 1 · 01:18 · 0:05" in lines
    assert "Note 2 · 01:19 · 0:05" in lines
    assert built.plain.split("\n")[:3] == lines[:3]  # the .txt carries the same header
    this_year = build_transcript(session(entry(1)), {1: "x"}, KOLKATA, now=START)
    assert shown(this_year.messages)[0].startswith("Transcript: Wed 25 Nov, 01:17 · “x”\n")


def test_the_header_label_escapes_the_first_words_and_says_silence_plainly() -> None:
    now = datetime(2027, 1, 5, tzinfo=UTC)

    def build(*entries: AudioEntry, texts: dict[int, str]) -> Transcript:
        return build_transcript(session(*entries), texts, UTC, now=now)

    built = build(entry(1), entry(2), texts={1: "", 2: "<b>Buy</b> & go"})
    assert built.messages[0].startswith(
        "<b>Transcript: Tue 24 Nov 2026, 19:47 · “&lt;b&gt;Buy&lt;/b&gt; &amp; go”</b>\n"
    )
    silent = build(entry(1), texts={1: "  "})
    assert shown(silent.messages)[0].startswith("Transcript: Tue 24 Nov 2026, 19:47 · no speech\n")
    pending = build(entry(1, failed=True), texts={})
    assert shown(pending.messages)[0].startswith("Transcript: Tue 24 Nov 2026, 19:47 · 1 note\n")


def test_notes_are_numbered_and_a_failed_one_keeps_its_place_with_a_plain_reason() -> None:
    errors = [ErrorEntry(message="cannot decode ...", code="decode_failed", sequence=2)]
    video = entry(3, mime="video/mp4")
    built = build_transcript(
        session(entry(1), entry(2, failed=True), video, errors=errors), {1: "a", 3: "c"}, UTC
    )
    [text] = shown(built.messages)
    assert "0:15, 1 failed" in text.split("\n")[1]
    blocks = text.split("\n\n")[1:]
    assert blocks == [
        "Note 1 · 19:48 · 0:05\na",
        "Note 2 · 19:49 · 0:05\n(not transcribed: the file is damaged or not audio)",
        "Note 3 · 19:50 · 0:05 · round video\nc",
    ]
    assert "Errno" not in built.plain
    assert "/srv" not in built.plain


def test_missing_audio_is_said_in_plain_words() -> None:
    errors = [ErrorEntry(message="note 1: gone", code="audio_missing", sequence=1)]
    built = build_transcript(session(entry(1, failed=True), errors=errors), {}, UTC)
    assert "(not transcribed: the audio file is missing)" in shown(built.messages)[0]


def test_long_transcripts_split_at_note_boundaries_each_part_valid_and_within_limits() -> None:
    sentence = "A <tag> & an ordinary sentence about the plan. "
    entries = [entry(n) for n in range(1, 7)]
    notes = dict.fromkeys(range(1, 7), sentence * 40)  # ~1900 characters each
    built = build_transcript(session(*entries), notes, UTC)
    assert len(built.messages) >= 3
    rendered = shown(built.messages)  # each part parses on its own
    assert all(telegram_length(m) <= 4096 for m in built.messages)
    assert all(len(r) <= 4096 for r in rendered)
    for text in rendered[1:]:  # every part after the first starts at a note's heading
        assert text.startswith("Note ")
    headings = [line for r in rendered for line in r.split("\n") if line.startswith("Note ")]
    assert [h.split(" · ")[0] for h in headings] == [f"Note {n}" for n in range(1, 7)]
    assert "<blockquote expandable>" in built.messages[0]  # long notes are folded


def test_a_note_longer_than_a_message_splits_at_sentences_and_counts_like_telegram() -> None:
    sentence = "Emoji count twice 😀😀 & <so> do these. "
    built = build_transcript(session(entry(1)), {1: sentence * 300}, UTC)
    assert len(built.messages) >= 3
    rendered = shown(built.messages)
    for message, text in zip(built.messages, rendered, strict=True):
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        assert telegram_length(message) == len(text.encode("utf-16-le")) // 2
    assert all(r.rstrip().endswith(".") for r in rendered)  # at sentence ends
    assert rendered[1].startswith("Note 1 (continued)\n")
    assert "".join(rendered).count("Emoji count twice") == 300 + 1  # and the header's label


def test_a_short_note_is_not_folded() -> None:
    built = build_transcript(session(entry(1)), {1: "x" * (FOLD_AT - 1)}, UTC)
    assert "blockquote" not in built.messages[0]


def test_timezone_setting_takes_an_iana_name_and_refuses_others_clearly() -> None:
    assert TimeZoneSettings(_env_file=None).zone == ZoneInfo("UTC")  # type: ignore[call-arg]
    chosen = TimeZoneSettings(_env_file=None, timezone="America/New_York")  # type: ignore[call-arg]
    assert chosen.zone == ZoneInfo("America/New_York")
    with pytest.raises(ValidationError) as raised:
        TimeZoneSettings(_env_file=None, timezone="Mars/Olympus")  # type: ignore[call-arg]
    message = describe_invalid(raised.value)
    assert message.startswith("TIMEZONE is invalid: ")
    assert "'Mars/Olympus' is not a time zone name" in message
