"""What the bot says about the library: /history lines, /find results (HTML), retention."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import library_texts as lt
from bot.callbacks import (
    DoneButton,
    ForgetAskButton,
    ForgetButton,
    GetButton,
    HistoryPage,
    history_keyboard,
)
from sessions import AudioEntry, ErrorEntry, Session, SessionState

CREATED = datetime(2026, 11, 24, 19, 47, 41, tzinfo=UTC)


def session(state: SessionState = SessionState.TRANSCRIBED, *, notes: int = 2) -> Session:
    entries = [
        AudioEntry(sequence=n, filename=f"{n:03d}_audio.ogg", duration_seconds=4.5)
        for n in range(1, notes + 1)
    ]
    return Session(
        session_id="2026-11-24_19-47-41",
        chat_id=1,
        state=state,
        created_at=CREATED,
        audio_entries=entries,
    )


def visible(markup: str) -> str:
    """What Telegram shows of an HTML message: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


LABEL = "Tue 24 Nov, 19:47 · “Please remember to buy fresh…”"


def test_history_line_has_label_notes_length_state() -> None:
    line = lt.history_line(3, session(), LABEL)
    assert line == f"3. {LABEL}\n   2 notes, 0:09 · transcribed"
    assert "2026-11-24_19-47-41" not in line  # the id is no headline


def test_history_says_the_zone_once_and_whose_sessions() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    mine = lt.history([(session(), LABEL), (session(), LABEL)], 0, kolkata)
    assert mine.startswith("Your sessions, newest first (times in Asia/Kolkata).")
    assert mine.count("Asia/Kolkata") == 1
    group = lt.history([(session(), LABEL)], 0, kolkata, group=True)
    assert group.startswith("This chat's sessions, newest first")
    assert "Your" not in group


def test_history_line_states_in_words() -> None:
    line = lt.history_line(1, session(SessionState.COLLECTING, notes=1), "Tue 24 Nov, 19:47")
    assert "1 note, 0:04 · open" in line
    cancelled = session(SessionState.ERROR)
    cancelled.errors.append(ErrorEntry(message="cancelled by the chat", code="cancelled"))
    assert lt.state_word(cancelled) == "cancelled"
    assert lt.state_word(session(SessionState.ERROR)) == "failed"


def test_history_numbers_from_the_offset_and_says_when_empty() -> None:
    text = lt.history([(session(), LABEL)], offset=5)
    assert f"\n6. {LABEL}" in text
    assert lt.history([], 0) == lt.HISTORY_EMPTY
    assert lt.history([], 5) == lt.HISTORY_NO_MORE


def test_find_results_mark_the_words_and_escape_everything() -> None:
    hit = lt.FoundNote(
        session_id="2026-11-24_19-47-41",
        sequence=2,
        label="Tue 24 Nov, 19:47 · “Fish & <chips>”",
        fragments=[("a <b>tag</b> & ", False), ("bread", True), (" <i>x", False)],
    )
    text = lt.find_results("bread & <butter>", [hit])
    assert "<b>bread</b>" in text
    assert "a &lt;b&gt;tag&lt;/b&gt; &amp; " in text
    assert " &lt;i&gt;x" in text
    assert "“bread &amp; &lt;butter&gt;”" in text
    # the only tags are the marks
    assert re.findall(r"<[^>]+>", text) == ["<b>", "</b>"]
    shown = visible(text)
    assert shown.startswith("Notes matching “bread & <butter>”, best first (times in UTC):")
    assert "1. Tue 24 Nov, 19:47 · “Fish & <chips>”, note 2:" in shown
    assert "a <b>tag</b> & bread <i>x" in shown


def test_a_hit_in_the_written_notes_is_called_so_not_note_0() -> None:
    hit = lt.FoundNote(
        session_id="2026-11-24_19-47-41",
        sequence=0,
        label="Tue 24 Nov, 19:47",
        fragments=[("Buy ", False), ("bread", True)],
    )
    shown = visible(lt.find_results("bread", [hit]))
    assert "Tue 24 Nov, 19:47, written note:" in shown
    assert "note 0" not in shown


def test_find_results_without_hits() -> None:
    text = lt.find_results("x<y", [])
    assert visible(text) == "No note in this chat's transcripts matches “x<y”."


def test_find_results_fit_one_message_whatever_the_query() -> None:
    # A pasted paragraph as the query, eight long hits: still one message Telegram accepts.
    query = "bread " * 700
    long_hit = lt.FoundNote(
        session_id="2026-11-24_19-47-41_99",
        sequence=999,
        label="Tue 24 Nov, 19:47 · “" + "x" * 31 + "…”",
        fragments=[("&<" * 400, False), ("bread", True), ("x" * 800, False)],
    )
    for hits in ([], [long_hit] * 8):
        assert len(visible(lt.find_results(query, hits))) <= 4096


def test_snippet_is_cut_to_its_limit() -> None:
    fragments = [("word " * 200, False), ("match", True)]
    assert len(visible(lt.snippet_html(fragments, limit=50))) <= 50


def test_retention_in_words() -> None:
    assert lt.retention(None, None) == "Recordings and transcripts are kept until you /forget them."
    both = lt.retention(30, 365)
    assert "Recordings are kept for 30 days after they are transcribed" in both
    assert "Sessions are deleted entirely after 365 days." in both
    assert "RETENTION" not in both
    assert "1 day " in lt.retention(1, None)


def test_undo_and_cancel_name_the_note_and_session() -> None:
    said = "Call the dentist about the appointment on Monday"
    assert lt.undone(3, 5.2, said, session()) == (
        "Removed note 3 (0:05, “Call the dentist about the…”). The session now has 2 notes, 0:09."
    )
    short = lt.undone(4, 12, "Short one.", session())
    assert short.startswith("Removed note 4 (0:12, “Short one.”).")
    assert lt.undone(1, 3, None, session(notes=0)) == (
        "Removed note 1 (0:03). The session has no notes now."  # no transcript yet: no words
    )
    assert "its 2 notes were deleted" in lt.cancelled("2026-11-24_19-47-41", 2)
    assert "its note was deleted" in lt.cancelled("2026-11-24_19-47-41", 1)


def test_callback_data_fits_telegrams_64_bytes_for_the_longest_session_id() -> None:
    longest = "2026-11-24_19-47-41_999999"
    for data in (
        DoneButton(session=longest),
        GetButton(session=longest),
        ForgetButton(session=longest, confirm=True),
        ForgetAskButton(session=longest),
        HistoryPage(offset=10**9),
    ):
        packed = data.pack()
        assert len(packed.encode()) <= 64
        assert type(data).unpack(packed) == data


def test_history_keyboard_pages() -> None:
    keyboard = history_keyboard([("1. a", "2026-11-24_19-47-41")], newer=None, older=5)
    assert keyboard is not None
    rows = keyboard.inline_keyboard
    assert rows[0][0].callback_data == "get:2026-11-24_19-47-41"
    assert [(b.text, b.callback_data) for b in rows[-1]] == [("Older »", "hist:5")]
    assert history_keyboard([], newer=None, older=None) is None


def test_a_reference_that_names_no_session_or_several() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert lt.unknown_session("9:47", "09:47", berlin) == (
        "This chat has no session at 09:47 (times in Europe/Berlin). /history lists its sessions."
    )
    assert "“zz”" in lt.unknown_session("zz")
    assert lt.ambiguous_session("09:47", 2, berlin).endswith("Tap the one you mean:")
    many = lt.ambiguous_session("09:47", 7, berlin)
    assert "The newest 5 of 7" in many
    assert "2 Dec 09:47" in many  # says how to name one


def test_forget_texts_name_the_session_by_its_label() -> None:
    question = lt.forget_question(session(), LABEL, ZoneInfo("Europe/Berlin"))
    assert question.startswith(f"Forget the session {LABEL} (2 notes, 0:09; times in Europe/")
    assert lt.forgotten(LABEL) == f"The session {LABEL} is forgotten: nothing of it is kept."
    assert lt.kept(LABEL) == f"The session {LABEL} is kept."
