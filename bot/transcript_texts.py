"""The delivered transcript: a header, then each note numbered, as Telegram HTML messages
(every piece of transcript text escaped) and as the plain text of its ``.txt`` file.

Times are written in the owner's time zone (``TIMEZONE``). A note that could not be
transcribed keeps its place, with a reason in plain words. Messages are split at note
boundaries first, and a note too long for one message at paragraphs, then sentences; each
message is valid HTML on its own and at most :data:`MESSAGE_LIMIT` characters long as
Telegram counts them (UTF-16 code units of the text after its tags are parsed).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot import dates
from bot.i18n import N_, _
from bot.session_labels import first_words_of, session_label, zone_note
from bot.texts import MESSAGE_LIMIT, notes, split_message
from runtime.formatting import format_duration
from sessions import AudioEntry, Session, TranscriptionStatus
from sessions.speakers import note_source, shorten, speaker_labels, speaker_name

# A note longer than this (in characters) is shown folded: an expandable blockquote.
FOLD_AT = 700
# Room kept in each message for a note's heading and the blank lines between notes.
_HEADING_ROOM = 120

# The entry's failure, by the code the transcription stage records for it, in plain words.
_REASONS = {
    "decode_failed": N_("the file is damaged or not audio"),
    "audio_missing": N_("the audio file is missing"),
    "timeout": N_("it took too long to transcribe"),
    "too_long": N_("it is too long"),
    "transcription_failed": N_("transcription failed (the bot's log has the details)"),
}
# Without a known code (an older session, say), words of the recorded error say which.
_REASON_WORDS = (
    ("decode", _REASONS["decode_failed"]),
    ("missing", _REASONS["audio_missing"]),
    ("longer than", _REASONS["timeout"]),
    ("timed out", _REASONS["timeout"]),
    ("too long", _REASONS["too_long"]),
)
_UNKNOWN_REASON = N_("something went wrong (the bot's log has the details)")
_TAG = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class Transcript:
    """A session's transcript as messages (HTML) and as the text of its ``.txt`` file."""

    messages: list[str]
    plain: str


def telegram_length(message: str) -> int:
    """The length Telegram counts for an HTML ``message``: UTF-16 code units of its text
    once the tags are parsed and the entities unescaped."""
    text = html.unescape(_TAG.sub("", message))
    return len(text.encode("utf-16-le")) // 2


def failure_reason(session: Session, entry: AudioEntry) -> str:
    """Why ``entry`` could not be transcribed, in plain words (never a path or an errno)."""
    codes = [e.code for e in session.errors if e.sequence == entry.sequence]
    for code in reversed(codes):
        if code in _REASONS:
            return _(_REASONS[code])
    error = (entry.error or "").lower()
    return _(next((reason for words, reason in _REASON_WORDS if words in error), _UNKNOWN_REASON))


def header_lines(
    session: Session, zone: tzinfo, first_text: str | None = None, now: datetime | None = None
) -> list[str]:
    """The header in plain text: the session's label (when it began, its first words), how
    many notes, how long, how many failed, the time zone the times are in, and its id (for
    those who name sessions by it)."""
    failed = sum(
        e.transcription_status is TranscriptionStatus.FAILED for e in session.audio_entries
    )
    counts = (
        f"{notes(len(session.audio_entries))}, {format_duration(session.total_duration_seconds)}"
    )
    if failed:
        counts = _("{counts}, {failed} failed").format(counts=counts, failed=failed)
    label = session_label(session, first_text, zone, now or datetime.now(UTC))
    return [
        _("Transcript: {label}").format(label=label),
        f"{counts} · {zone_note(zone)}",
        session_id_line(session),
    ]


def session_id_line(session: Session) -> str:
    return _("Session id {session}").format(session=session.session_id)


def build_transcript(
    session: Session,
    texts: Mapping[int, str | None],
    zone: tzinfo,
    limit: int = MESSAGE_LIMIT,
    now: datetime | None = None,
    bodies: Mapping[int, str | None] | None = None,
) -> Transcript:
    """The transcript of ``session``, whose notes' texts are ``texts`` (by sequence; None
    when a finished note's text is missing); ``bodies``, where given, is what each note
    shows (its speaker turns), the session's name still taken from ``texts``."""
    ordered = sorted(session.audio_entries, key=lambda e: e.sequence)
    finished = [
        texts.get(e.sequence) if e.transcription_status is TranscriptionStatus.COMPLETED else None
        for e in ordered
    ]
    head = header_lines(session, zone, first_words_of(finished), now)
    created = session.created_at.astimezone(zone)
    blocks: list[str] = []
    plain = [*head]
    labels = _speaker_labels(session)
    for entry in ordered:
        heading = _heading(entry, created, zone, labels.get(entry.sequence))
        body, shown = _body(session, entry, (bodies or texts).get(entry.sequence))
        plain += ["", heading, body]
        room = limit - max(_HEADING_ROOM, _utf16_length(heading) + _HEADING_ROOM // 2)
        blocks += _note_blocks(heading, body, shown, room)
    first = f"<b>{html.escape(head[0])}</b>\n{html.escape(head[1])}\n<i>{html.escape(head[2])}</i>"
    return Transcript(messages=_pack([first, *blocks], limit), plain="\n".join(plain) + "\n")


def _heading(entry: AudioEntry, created: datetime, zone: tzinfo, speaker: str | None) -> str:
    """The note's number, time and length ("Note 3 · 14:05 · 0:42"), then what it was when
    that matters (an audio file's name, a round video) and its speaker when the session is
    labelled ("Anna", "forwarded from Ben")."""
    received = entry.received_at.astimezone(zone)
    when = dates.clock(received)
    if received.date() != created.date():
        when = f"{dates.day_month(received)} {when}"
    parts = [
        _("Note {number}").format(number=entry.sequence),
        when,
        format_duration(entry.duration_seconds),
    ]
    source = note_source(entry)
    if source is not None:
        parts.append(_(source) if source in _SOURCES else source)  # else a file's name
    if speaker is not None:
        parts.append(speaker)
    return " · ".join(parts)


# What sessions.speakers says of a note and its speaker (English data there), said here in
# the chat's language.
_SOURCES = (N_("audio file"), N_("round video"))
_UNNAMED = (N_("someone"), N_("a group"), N_("a channel"))


def _speaker_labels(session: Session) -> dict[int, str]:
    """:func:`sessions.speakers.speaker_labels` in the current language: "Anna", "forwarded
    from Ben"."""
    labels = speaker_labels(session)
    worded = {}
    for entry in session.audio_entries:
        if entry.sequence not in labels:
            continue
        name = labels[entry.sequence]
        if entry.speaker is not None:
            name = speaker_name(entry.speaker)
            if not shorten(entry.speaker.name):  # unnamed: "a channel (Ben)"
                unnamed = next((w for w in _UNNAMED if name.startswith(w)), "")
                name = _(unnamed) + name[len(unnamed) :] if unnamed else name
        if entry.forwarded:
            forwarded = _("forwarded from {name}").format(name=name)
            name = forwarded if entry.speaker is not None else _("forwarded")
        worded[entry.sequence] = name
    return worded


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _body(session: Session, entry: AudioEntry, text: str | None) -> tuple[str, bool]:
    """The note's text, and whether it is the speech itself (rather than a remark)."""
    if entry.transcription_status is TranscriptionStatus.FAILED:
        return _("(not transcribed: {reason})").format(reason=failure_reason(session, entry)), False
    if entry.transcription_status is not TranscriptionStatus.COMPLETED or text is None:
        return _("(its transcript is missing)"), False
    if not text.strip():
        return _("(no speech recognised)"), False
    return text.strip(), True


def _note_blocks(heading: str, body: str, speech: bool, room: int) -> list[str]:
    """One block per message the note needs: its heading (marked "continued" after the
    first) and its text, escaped; a long text folded in an expandable blockquote."""
    if not speech:
        return [f"<b>{html.escape(heading)}</b>\n<i>{html.escape(body)}</i>"]
    chunks = _split_counted(body, room)
    blocks = []
    for n, chunk in enumerate(chunks):
        title = heading if n == 0 else _("{note} (continued)").format(note=heading.split(" · ")[0])
        text = html.escape(chunk)
        if len(body) > FOLD_AT:
            text = f"<blockquote expandable>{text}</blockquote>"
        blocks.append(f"<b>{html.escape(title)}</b>\n{text}")
    return blocks


def _split_counted(text: str, room: int) -> list[str]:
    """``text`` split at paragraphs, then sentences, into chunks Telegram counts as at
    most ``room`` long (characters outside the BMP count twice)."""
    limit = room
    while True:
        chunks = split_message(text, limit)
        if all(len(c.encode("utf-16-le")) // 2 <= room for c in chunks) or limit <= 1:
            return chunks
        limit = max(1, limit * 3 // 4)


def _pack(blocks: list[str], limit: int) -> list[str]:
    """Blocks joined by blank lines into as few messages as fit in ``limit``."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        joined = f"{current}\n\n{block}" if current else block
        if current and telegram_length(joined) > limit:
            messages.append(current)
            current = block
        else:
            current = joined
    if current:
        messages.append(current)
    return messages
