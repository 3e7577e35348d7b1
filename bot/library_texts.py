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

from bot.i18n import N_, _, ngettext, translated
from bot.session_labels import snippet, zone_note
from bot.texts import MESSAGE_LIMIT, fit, notes
from library.index import WRITTEN_NOTES_SEQUENCE
from runtime.formatting import format_duration
from sessions import Session, SessionState

AMBIGUOUS_SHOWN = 5  # candidates offered as buttons when a reference names several
SNIPPET_LIMIT = 300  # characters of one /find snippet

# The translated constants (declared for the type checker, answered by __getattr__).
HISTORY_EMPTY: str
HISTORY_NO_MORE: str
FIND_USAGE: str
SEARCH_UNAVAILABLE: str
SEARCH_REBUILDING: str
GET_USAGE: str
FORGET_USAGE: str
NOTHING_TO_UNDO: str
NOTHING_TO_CANCEL: str
DONE_ALREADY: str
BUTTON_EXPIRED: str

_TEXTS = {
    "history_empty": N_("There are no sessions in this chat yet. Send a voice note to start one."),
    "history_no_more": N_("There are no older sessions."),
    "find_usage": N_("Type the words to look for after /find, e.g. /find bread milk"),
    "search_unavailable": N_(
        "Search is not available right now. Please try again in a few minutes."
    ),
    "search_rebuilding": N_(
        "The search index is being rebuilt from the saved sessions, so /find cannot search "
        "yet. Please try again in a few minutes; everything else works as usual."
    ),
    "get_usage": N_(
        "Which session? Type /get and when you recorded it, e.g. /get 09:47, /get 2 Dec "
        "09:47 or /get yesterday 18:10. /history lists them."
    ),
    "forget_usage": N_(
        "Which session? Type /forget and when you recorded it, e.g. /forget 09:47 or "
        "/forget 2 Dec 09:47. /history lists them."
    ),
    "nothing_to_undo": N_(
        "There is no note to take back: no session is open, or it has no notes yet."
    ),
    "nothing_to_cancel": N_("No session is open, so there is nothing to cancel."),
    "done_already": N_("That session is already finished."),
    "button_expired": N_("This button no longer does anything."),
}


def __getattr__(name: str) -> str:
    return translated(_TEXTS, name, __name__)


_STATE_WORDS = {
    SessionState.COLLECTING: N_("open"),
    SessionState.TRANSCRIBING: N_("being transcribed"),
    SessionState.TRANSCRIBED: N_("transcribed"),
    SessionState.PROCESSING: N_("being processed"),
    SessionState.PROCESSED: N_("processed"),
    SessionState.ERROR: N_("failed"),
}


def state_word(session: Session) -> str:
    """The session's state as a person says it ("cancelled" for one discarded by /cancel)."""
    if session.state is SessionState.ERROR and any(e.code == "cancelled" for e in session.errors):
        return _("cancelled")
    return _(_STATE_WORDS[session.state])


def history_line(number: int, session: Session, label: str) -> str:
    """One session in /history: its number and label, then notes, length and state."""
    return _("{number}. {label}\n   {notes}, {duration} · {state}").format(
        number=number,
        label=label,
        notes=notes(len(session.audio_entries)),
        duration=format_duration(session.total_duration_seconds),
        state=state_word(session),
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
        return _(_TEXTS["history_empty"] if offset == 0 else _TEXTS["history_no_more"])
    if group:
        head = _("This chat's sessions, newest first ({zone}). Tap one to get it again:")
    else:
        head = _("Your sessions, newest first ({zone}). Tap one to get it again:")
    head = head.format(zone=zone_note(zone))
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
        return _("No note in this chat's transcripts matches \u201c{query}\u201d.").format(
            query=shown
        )
    lines = [
        _("Notes matching \u201c{query}\u201d, best first ({zone}):").format(
            query=shown, zone=zone_note(zone)
        )
    ]
    for n, hit in enumerate(hits, start=1):
        # The session's written notes (summary, to-dos...) are indexed apart from its voice notes.
        if hit.sequence == WRITTEN_NOTES_SEQUENCE:
            where = _("written note")
        else:
            where = _("note {number}").format(number=hit.sequence)
        lines.append(
            f"\n{n}. {html.escape(hit.label, quote=False)}, {where}:\n{snippet_html(hit.fragments)}"
        )
    return "\n".join(lines)


def unknown_session(typed: str, when: str | None = None, zone: tzinfo = UTC) -> str:
    """No session answers to ``typed`` (``when``: how it was read as a date or time)."""
    if when is not None:
        return _(
            "This chat has no session at {when} ({zone}). /history lists its sessions."
        ).format(when=when, zone=zone_note(zone))
    return _("This chat has no session \u201c{typed}\u201d. /history lists its sessions.").format(
        typed=fit(typed, 60)
    )


def ambiguous_session(typed: str, count: int, zone: tzinfo = UTC) -> str:
    """Several sessions answer to ``typed``: the newest are offered as buttons."""
    head = _("Several sessions match \u201c{typed}\u201d ({zone}).").format(
        typed=fit(typed, 60), zone=zone_note(zone)
    )
    if count > AMBIGUOUS_SHOWN:
        return _(
            "{head} The newest {shown} of {count} are below; tap one, or add the date (e.g. "
            "2 Dec 09:47) to name one."
        ).format(head=head, shown=AMBIGUOUS_SHOWN, count=count)
    return _("{head} Tap the one you mean:").format(head=head)


def not_ready(session: Session, label: str) -> str:
    """/get of a session with no transcript yet (``label``: how it is named)."""
    if session.state is SessionState.COLLECTING:
        return _(
            "The session {label} is still open: type /done (or tap Done) and its transcript comes."
        ).format(label=label)
    return _(
        "The session {label} is being transcribed; its transcript comes when it is done."
    ).format(label=label)


def cancelled_session(label: str) -> str:
    return _("The session {label} was cancelled; it has no transcript.").format(label=label)


def resend_failed(session: Session, label: str) -> str:
    """/get gave up: Telegram did not take the transcript after a few tries."""
    return _(
        "The session {label} could not be sent just now. Please try /get {session} again in "
        "a few minutes."
    ).format(label=label, session=session.session_id)


UNDONE_SNIPPET = 32  # characters of the removed note's transcript: enough to recognise it


def undone(sequence: int, seconds: float, transcript: str | None, session: Session) -> str:
    """After /undo: which note went (its length, its first words when it has a
    transcript), and what the session holds now."""
    words = snippet(transcript, UNDONE_SNIPPET)
    left = len(session.audio_entries)
    if left:
        now = _("The session now has {notes}, {duration}.").format(
            notes=notes(left), duration=format_duration(session.total_duration_seconds)
        )
    else:
        now = _("The session has no notes now.")
    if words:
        return _("Removed note {number} ({duration}, \u201c{words}\u201d). {now}").format(
            number=sequence, duration=format_duration(seconds), words=words, now=now
        )
    return _("Removed note {number} ({duration}). {now}").format(
        number=sequence, duration=format_duration(seconds), now=now
    )


def cancelled(session_id: str, count: int) -> str:
    if count == 0:
        return _(
            "Session {session} is cancelled: it had no notes. Send a voice note to start a new one."
        ).format(session=session_id)
    return ngettext(
        "Session {session} is cancelled: its note was deleted. Send a voice note to start a "
        "new one.",
        "Session {session} is cancelled: its {count} notes were deleted. Send a voice note to "
        "start a new one.",
        count,
    ).format(session=session_id, count=count)


def forget_question(session: Session, label: str, zone: tzinfo = UTC) -> str:
    return _(
        "Forget the session {label} ({notes}, {duration}; {zone})? Its recordings, transcript "
        "and files are deleted for good."
    ).format(
        label=label,
        notes=notes(len(session.audio_entries)),
        duration=format_duration(session.total_duration_seconds),
        zone=zone_note(zone),
    )


def forget_busy(session: Session, label: str) -> str:
    return _("The session {label} is {state} right now; forget it once that is finished.").format(
        label=label, state=state_word(session)
    )


def forget_failed(label: str) -> str:
    return _(
        "The session {label} could not be forgotten right now (the bot's storage failed) and "
        "is kept whole. Please try again in a minute."
    ).format(label=label)


def forgotten(label: str) -> str:
    return _("The session {label} is forgotten: nothing of it is kept.").format(label=label)


def kept(label: str) -> str:
    return _("The session {label} is kept.").format(label=label)


def retention(audio_days: int | None, session_days: int | None) -> str:
    """The retention settings in words, for /status."""
    if audio_days is None and session_days is None:
        return _("Recordings and transcripts are kept until you /forget them.")
    lines = []
    if audio_days is not None:
        lines.append(
            ngettext(
                "Recordings are kept for {count} day after they are transcribed; transcripts stay.",
                "Recordings are kept for {count} days after they are transcribed; transcripts "
                "stay.",
                audio_days,
            ).format(count=audio_days)
        )
    else:
        lines.append(_("Recordings are kept as long as their session."))
    if session_days is not None:
        lines.append(
            ngettext(
                "Sessions are deleted entirely after {count} day.",
                "Sessions are deleted entirely after {count} days.",
                session_days,
            ).format(count=session_days)
        )
    else:
        lines.append(_("Sessions are kept until you /forget them."))
    return "\n".join(lines)
