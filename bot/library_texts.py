"""What the bot says about the session library: /history, /find, /get, /undo, /cancel,
/forget and the retention settings.

Plain text like :mod:`bot.texts`, except :func:`find_results`, which is HTML (to mark the
words found) with every piece of user text escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, tzinfo

from bot.session_labels import snippet, zone_note
from bot.texts import MESSAGE_LIMIT, fit, notes
from library.index import WRITTEN_NOTES_SEQUENCE
from runtime.formatting import format_duration
from sessions import Session, SessionState

AMBIGUOUS_SHOWN = 5  # candidates offered as buttons when a reference names several
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
    "Which session? Type /get and when you recorded it, e.g. /get 09:47, /get 2 Dec 09:47 "
    "or /get yesterday 18:10. /history lists them."
)
FORGET_USAGE = (
    "Which session? Type /forget and when you recorded it, e.g. /forget 09:47 or "
    "/forget 2 Dec 09:47. /history lists them."
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


def history_line(number: int, session: Session, label: str) -> str:
    """One session in /history: its number and label, then notes, length and state."""
    return (
        f"{number}. {label}\n"
        f"   {notes(len(session.audio_entries))}, "
        f"{format_duration(session.total_duration_seconds)} · {state_word(session)}"
    )


def history(
    entries: Sequence[tuple[Session, str]],
    offset: int,
    zone: tzinfo = UTC,
    *,
    group: bool = False,
) -> str:
    """A page of /history: ``entries`` (session, label) newest first, numbered from
    ``offset + 1``; in a group the sessions are the chat's, not the reader's."""
    if not entries:
        return HISTORY_EMPTY if offset == 0 else HISTORY_NO_MORE
    whose = "This chat's sessions" if group else "Your sessions"
    head = f"{whose}, newest first ({zone_note(zone)}). Tap one to get it again:"
    lines = [history_line(offset + n, s, label) for n, (s, label) in enumerate(entries, start=1)]
    return fit("\n\n".join([head, *lines]), MESSAGE_LIMIT)


@dataclass(frozen=True)
class FoundNote:
    """One /find hit: the note, its session's label, and its snippet as (text, is_match)."""

    session_id: str
    sequence: int
    label: str
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
    lines = [f"Notes matching “{shown}”, best first ({zone_note(zone)}):"]
    for n, hit in enumerate(hits, start=1):
        # The session's written notes (summary, to-dos...) are indexed apart from its voice notes.
        written = hit.sequence == WRITTEN_NOTES_SEQUENCE
        where = "written note" if written else f"note {hit.sequence}"
        lines.append(
            f"\n{n}. {html.escape(hit.label, quote=False)}, {where}:\n{snippet_html(hit.fragments)}"
        )
    return "\n".join(lines)


def unknown_session(typed: str, when: str | None = None, zone: tzinfo = UTC) -> str:
    """No session answers to ``typed`` (``when``: how it was read as a date or time)."""
    if when is not None:
        return (
            f"This chat has no session at {when} ({zone_note(zone)}). /history lists its sessions."
        )
    return f"This chat has no session “{fit(typed, 60)}”. /history lists its sessions."


def ambiguous_session(typed: str, count: int, zone: tzinfo = UTC) -> str:
    """Several sessions answer to ``typed``: the newest are offered as buttons."""
    head = f"Several sessions match “{fit(typed, 60)}” ({zone_note(zone)})."
    if count > AMBIGUOUS_SHOWN:
        return (
            f"{head} The newest {AMBIGUOUS_SHOWN} of {count} are below; tap one, or add the "
            "date (e.g. 2 Dec 09:47) to name one."
        )
    return f"{head} Tap the one you mean:"


def not_ready(session: Session, label: str) -> str:
    """/get of a session with no transcript yet (``label``: how it is named)."""
    if session.state is SessionState.COLLECTING:
        return (
            f"The session {label} is still open: type /done (or tap Done) and its transcript comes."
        )
    return f"The session {label} is being transcribed; its transcript comes when it is done."


def cancelled_session(label: str) -> str:
    return f"The session {label} was cancelled; it has no transcript."


def resend_failed(session: Session, label: str) -> str:
    """/get gave up: Telegram did not take the transcript after a few tries."""
    return (
        f"The session {label} could not be sent just now. "
        f"Please try /get {session.session_id} again in a few minutes."
    )


UNDONE_SNIPPET = 32  # characters of the removed note's transcript: enough to recognise it


def undone(sequence: int, seconds: float, transcript: str | None, session: Session) -> str:
    """After /undo: which note went (its length, its first words when it has a
    transcript), and what the session holds now."""
    words = snippet(transcript, UNDONE_SNIPPET)
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


def forget_question(session: Session, label: str, zone: tzinfo = UTC) -> str:
    return (
        f"Forget the session {label} ({notes(len(session.audio_entries))}, "
        f"{format_duration(session.total_duration_seconds)}; {zone_note(zone)})? "
        "Its recordings, transcript and files are deleted for good."
    )


def forget_busy(session: Session, label: str) -> str:
    return (
        f"The session {label} is {state_word(session)} right now; forget it once that is finished."
    )


def forget_failed(label: str) -> str:
    return (
        f"The session {label} could not be forgotten right now (the bot's storage failed) "
        "and is kept whole. Please try again in a minute."
    )


def forgotten(label: str) -> str:
    return f"The session {label} is forgotten: nothing of it is kept."


def kept(label: str) -> str:
    return f"The session {label} is kept."


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
