"""Who said what, and where a note came from, in the words every written transcript uses.

The delivered transcript, ``process/input.txt``, ``session.md`` and ``session.srt`` label a
note with its speaker only when the session needs it: when more than one person speaks in
it, or any note is forwarded. A private chat of one person's own notes reads as it always
did, without a name on every paragraph.
"""

from __future__ import annotations

from collections.abc import Iterable

from sessions.models import AudioEntry, Session, Speaker, SpeakerKind

# Names and file names are shown at most this long (Telegram allows a 128-character title
# and a 255-character file name): a heading stays one line, and a message within its limit.
SHOWN_NAME_LIMIT = 48


def shorten(text: str, limit: int = SHOWN_NAME_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def speaker_name(speaker: Speaker) -> str:
    """The speaker as people read it: "Anna Smith", or "Daily News (Ben)" for a channel's
    post signed by its author."""
    name = shorten(speaker.name) or _UNNAMED[speaker.kind]
    if speaker.signature and speaker.kind in (SpeakerKind.CHAT, SpeakerKind.CHANNEL):
        return f"{name} ({shorten(speaker.signature)})"
    return name


def speaker_label(entry: AudioEntry) -> str | None:
    """The note's label: "Anna", or "forwarded from Ben" for a forwarded note; None when
    the note does not say who speaks (recorded before speakers were, or by another tool)."""
    if entry.speaker is None:
        return "forwarded" if entry.forwarded else None
    name = speaker_name(entry.speaker)
    return f"forwarded from {name}" if entry.forwarded else name


def needs_labels(entries: Iterable[AudioEntry]) -> bool:
    """Whether notes are labelled with their speakers: more than one speaker, or any note
    forwarded. Notes that record no speaker count for none."""
    speakers: set[tuple[object, ...]] = set()
    for entry in entries:
        if entry.forwarded:
            return True
        if entry.speaker is not None:
            speakers.add(_identity(entry.speaker))
    return len(speakers) > 1


def speaker_labels(session: Session) -> dict[int, str]:
    """Each note's label by its sequence number; empty when the session needs none.

    In a private chat only forwarded notes are labelled (with where they came from): every
    other note is the chat owner's own, and their own name beside it says nothing."""
    if not needs_labels(session.audio_entries):
        return {}
    private = is_private_chat(session.chat_id)
    labels = {
        entry.sequence: speaker_label(entry)
        for entry in session.audio_entries
        if entry.forwarded or not private
    }
    return {sequence: label for sequence, label in labels.items() if label is not None}


def is_private_chat(chat_id: int) -> bool:
    """Whether ``chat_id`` is a private chat: Telegram gives users positive ids, and groups,
    supergroups and channels negative ones."""
    return chat_id > 0


def labelled_line(label: str | None, text: str) -> str:
    """``text`` preceded by ``label`` as a speaker is written before their words:
    "Anna: ...", "Forwarded from Ben: ..."; ``text`` alone without a label."""
    if not label:
        return text
    return f"{label[0].upper()}{label[1:]}: {text}"


def note_source(entry: AudioEntry) -> str | None:
    """What the note was, when that is worth saying: an audio file's name ("meeting.m4a"),
    "round video" for a video note; None for a voice note."""
    if entry.kind in ("audio", "document"):
        return shorten(entry.original_filename) if entry.original_filename else "audio file"
    if entry.kind == "video_note":
        return "round video"
    if entry.kind is None and (entry.mime_type or "").startswith("video/"):
        return "round video"  # recorded before the kind was: only round videos were video
    return None


def _identity(speaker: Speaker) -> tuple[object, ...]:
    """What makes two speakers the same person: the id where Telegram gives one (two
    people may share a name), else the name."""
    if speaker.kind is SpeakerKind.USER and speaker.user_id is not None:
        return (speaker.kind, speaker.user_id)
    if speaker.chat_id is not None:
        return (speaker.kind, speaker.chat_id, speaker.signature)
    return (speaker.kind, speaker.name, speaker.signature)


_UNNAMED = {
    SpeakerKind.USER: "someone",
    SpeakerKind.HIDDEN_USER: "someone",
    SpeakerKind.CHAT: "a group",
    SpeakerKind.CHANNEL: "a channel",
}
