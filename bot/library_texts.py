"""What the bot says about the session library: /history, /find, /get, /undo, /cancel,
/forget and the retention settings.

Plain text like :mod:`bot.texts`, except :func:`find_results`, which is HTML (to mark the
words found) with every piece of user text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.texts import MESSAGE_LIMIT, fit, notes
from sessions import Session, SessionState
from sessions.formatting import format_duration
from sessions.library import WRITTEN_NOTES_SEQUENCE

HISTORY_FIRST_WORDS = 8  # words of the transcript shown under each session
SNIPPET_LIMIT = 300  # characters of one /find snippet

HISTORY_EMPTY = "There are no sessions in this chat yet. Send a voice note to start one."
HISTORY_NO_MORE = "There are no older sessions."
FIND_USAGE = "Type the words to look for after /find, e.g. /find bread milk"
SEARCH_UNAVAILABLE = "Search is not available right now. Please try again in a few minutes."
SEARCH_REBUILDING = (
    "The search index is being rebuilt from the saved sessions, so /find cannot search yet. "
    "Please try again in a few minutes; everything else works as usual."
)
GET_USAGE = (
    "Which session? Type /get and its id (or a part of it), e.g. /get 19-47. /history lists them."
)
FORGET_USAGE = (
    "Which session? Type /forget and its id (or a part of it), e.g. /forget 19-47. "
    "/history lists them."
)
NOTHING_TO_UNDO = "There is no note to take back: no session is open, or it has no notes yet."
NOTHING_TO_CANCEL = "No session is open, so there is nothing to cancel."
DONE_ALREADY = "That session is already finished."
BUTTON_EXPIRED = "This button no longer does anything."

_STATE_WORDS = {
    SessionState.COLLECTING: "open",
    SessionState.TRANSCRIBING: "being transcribed",
    SessionState.TRANSCRIBED: "transcribed",
    SessionState.PROCESSING: "being processed",
    SessionState.PROCESSED: "processed",
    SessionState.ERROR: "failed",
}


def state_word(session: Session) -> str:
    """The session's state as a person says it ("cancelled" for one discarded by /cancel)."""
    if session.state is SessionState.ERROR and any(e.code == "cancelled" for e in session.errors):
        return "cancelled"
    return _STATE_WORDS[session.state]


def when(moment: datetime, zone: tzinfo = UTC) -> str:
    """A session's time, to the minute, in the owner's time zone, named:
    ``2026-11-24 19:47 UTC``, ``2026-11-25 01:17 Asia/Kolkata``."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone}"


def first_words(transcript: str | None, count: int = HISTORY_FIRST_WORDS) -> str:
    """The transcript's first ``count`` words ("…" when there are more), or "" for none."""
    words = (transcript or "").split()
    head = " ".join(words[:count])
    return head + "…" if len(words) > count else head


def history_line(number: int, session: Session, transcript: str | None, zone: tzinfo = UTC) -> str:
    """One session in /history: number, time, notes, length, state, then its first words."""
    line = (
        f"{number}. {when(session.created_at, zone)} · {notes(len(session.audio_entries))}, "
        f"{format_duration(session.total_duration_seconds)} · {state_word(session)}\n"
        f"   {session.session_id}"
    )
    words = first_words(transcript)
    return f"{line}\n   “{words}”" if words else line


def history(entries: Sequence[tuple[Session, str | None]], offset: int, zone: tzinfo = UTC) -> str:
    """A page of /history: ``entries`` (session, transcript) newest first, numbered from
    ``offset + 1``."""
    if not entries:
        return HISTORY_EMPTY if offset == 0 else HISTORY_NO_MORE
    head = "Your sessions, newest first (tap one to get it again):"
    lines = [history_line(offset + n, s, t, zone) for n, (s, t) in enumerate(entries, start=1)]
    return fit("\n\n".join([head, *lines]), MESSAGE_LIMIT)


def history_button(number: int, session: Session, zone: tzinfo = UTC) -> str:
    return f"{number}. {when(session.created_at, zone)} ({notes(len(session.audio_entries))})"


@dataclass(frozen=True)
class FoundNote:
    """One /find hit: the note, its session's time, and its snippet as (text, is_match)."""

    session_id: str
    sequence: int
    created_at: datetime | None
    fragments: Sequence[tuple[str, bool]]


def snippet_html(fragments: Sequence[tuple[str, bool]], limit: int = SNIPPET_LIMIT) -> str:
    """The snippet in HTML: matched words in bold, everything escaped; at most about
    ``limit`` visible characters."""
    out: list[str] = []
    left = limit
    for text, match in fragments:
        text = " ".join(text.split(" ")) if left > 0 else ""
        if not text:
            continue
        if len(text) > left:
            text = text[: max(left - 1, 0)] + "…"
        left -= len(text)
        escaped = html.escape(text, quote=False)
        out.append(f"<b>{escaped}</b>" if match else escaped)
    return "".join(out).replace("\n", " ")


def find_results(query: str, hits: Sequence[FoundNote], zone: tzinfo = UTC) -> str:
    """The /find answer in HTML: each hit's number, session, note and snippet, best first."""
    shown = html.escape(fit(query, 60), quote=False)  # a pasted paragraph must not overflow
    if not hits:
        return f"No note in this chat's transcripts matches “{shown}”."
    lines = [f"Notes matching “{shown}”, best first:"]
    for n, hit in enumerate(hits, start=1):
        moment = f" ({when(hit.created_at, zone)})" if hit.created_at is not None else ""
        # The session's written notes (summary, to-dos...) are indexed apart from its voice notes.
        written = hit.sequence == WRITTEN_NOTES_SEQUENCE
        where = "written note" if written else f"note {hit.sequence}"
        lines.append(
            f"\n{n}. Session {html.escape(hit.session_id)}{moment}, {where}:\n"
            f"{snippet_html(hit.fragments)}"
        )
    return "\n".join(lines)


def find_button(number: int, hit: FoundNote) -> str:
    return f"{number}. Get session {hit.session_id}"


def unknown_session(typed: str) -> str:
    return f"This chat has no session “{fit(typed, 60)}”. /history lists its sessions."


def ambiguous_session(typed: str, candidates: Sequence[str]) -> str:
    listed = ", ".join(candidates[:5]) + (", …" if len(candidates) > 5 else "")
    return f"Several sessions match “{fit(typed, 60)}”: {listed}. Type more of the id."


def not_ready(session: Session) -> str:
    if session.state is SessionState.COLLECTING:
        return (
            f"Session {session.session_id} is still open: type /done (or tap Done) and its "
            "transcript comes."
        )
    return (
        f"Session {session.session_id} is being transcribed; its transcript comes when it is done."
    )


def cancelled_session(session: Session) -> str:
    return f"Session {session.session_id} was cancelled; it has no transcript."


def resend_failed(session: Session) -> str:
    """/get gave up: Telegram did not take the transcript after a few tries."""
    return (
        f"Session {session.session_id} could not be sent just now. "
        f"Please try /get {session.session_id} again in a few minutes."
    )


UNDONE_FIRST_WORDS = 5  # of the removed note's transcript: enough to recognise it


def undone(sequence: int, seconds: float, transcript: str | None, session: Session) -> str:
    """After /undo: which note went (its length, its first words when it has a
    transcript), and what the session holds now."""
    words = first_words(transcript, UNDONE_FIRST_WORDS)
    said = f", “{words}”" if words else ""
    left = len(session.audio_entries)
    now = (
        f"The session now has {notes(left)}, {format_duration(session.total_duration_seconds)}."
        if left
        else "The session has no notes now."
    )
    return f"Removed note {sequence} ({format_duration(seconds)}{said}). {now}"


def cancelled(session_id: str, count: int) -> str:
    deleted = {0: "it had no notes", 1: "its note was deleted"}.get(
        count, f"its {count} notes were deleted"
    )
    return f"Session {session_id} is cancelled: {deleted}. Send a voice note to start a new one."


def forget_question(session: Session, zone: tzinfo = UTC) -> str:
    return (
        f"Forget session {session.session_id} ({when(session.created_at, zone)}, "
        f"{notes(len(session.audio_entries))}, {format_duration(session.total_duration_seconds)})? "
        "Its recordings, transcript and files are deleted for good."
    )


def forget_busy(session: Session) -> str:
    return (
        f"Session {session.session_id} is {state_word(session)} right now; "
        "forget it once that is finished."
    )


def forget_failed(session_id: str) -> str:
    return (
        f"Session {session_id} could not be forgotten right now (the bot's storage failed) "
        "and is kept whole. Please try again in a minute."
    )


def forgotten(session_id: str) -> str:
    return f"Session {session_id} is forgotten: nothing of it is kept."


def kept(session_id: str) -> str:
    return f"Session {session_id} is kept."


def retention(audio_days: int | None, session_days: int | None) -> str:
    """The retention settings in words, for /status."""
    if audio_days is None and session_days is None:
        return "Recordings and transcripts are kept until you /forget them."
    lines = []
    if audio_days is not None:
        lines.append(
            f"Recordings are kept for {_days(audio_days)} after they are transcribed; "
            "transcripts stay."
        )
    else:
        lines.append("Recordings are kept as long as their session.")
    if session_days is not None:
        lines.append(f"Sessions are deleted entirely after {_days(session_days)}.")
    else:
        lines.append("Sessions are kept until you /forget them.")
    return "\n".join(lines)


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"
