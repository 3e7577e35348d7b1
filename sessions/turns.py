"""Speaker turns inside one recording, in the words every written transcript uses.

A diarized note (its segments carry a local ``speaker``) with at least two voices reads in
turns, "Speaker 1: ..." / "Speaker 2: ...", consecutive segments of one voice joined; the
numbers are the session's (``Session.speaker_numbers``, set when its transcript is
consolidated; until then the note's own order) and a chat's names replace them
(``Session.speaker_names``). A note with one voice, or not diarized, reads exactly as before.
The chat transcript, ``process/input.txt``, ``session.md`` and ``session.srt`` all use this.
"""

from __future__ import annotations

from dataclasses import dataclass

from sessions.models import Session
from sessions.transcripts import Transcript

SPEAKER_WORD = "Speaker {number}"
"""How an unnamed voice is written in the files (the chat's transcript translates it)."""


@dataclass(frozen=True)
class Turn:
    """One stretch of a note spoken by one voice: its session-wide number and its words."""

    number: int
    text: str


def local_numbers(session: Session, sequence: int, detail: Transcript) -> list[int]:
    """Note ``sequence``'s local speakers as session-wide numbers: those recorded for the
    session, else the note's own order (1, 2, ...) when they are missing or do not fit."""
    count = len(detail.speaker_centroids or [])
    found = [s.speaker for s in detail.segments if s.speaker is not None]
    count = max(count, max(found, default=-1) + 1)
    stored = (session.speaker_numbers or {}).get(str(sequence))
    if stored is not None and len(stored) >= count and all(n >= 1 for n in stored):
        return list(stored)
    return [n + 1 for n in range(count)]


def note_turns(session: Session, sequence: int, detail: Transcript | None) -> list[Turn] | None:
    """The note's turns, consecutive segments of one voice joined; None when the note is
    not diarized or holds fewer than two voices (it then reads as its plain text).

    A segment no voice was found for belongs to the turn around it (the one before, or at
    the start the first one after)."""
    if detail is None or not detail.segments:
        return None
    numbers = local_numbers(session, sequence, detail)
    turns: list[Turn] = []
    pending: list[str] = []  # words before the first segment with a voice
    for segment in detail.segments:
        words = " ".join(segment.text.split())
        if not words:
            continue
        local = segment.speaker
        number = numbers[local] if local is not None and 0 <= local < len(numbers) else None
        if number is None and turns:
            number = turns[-1].number
        if number is None:
            pending.append(words)
            continue
        if turns and turns[-1].number == number:
            turns[-1] = Turn(number, f"{turns[-1].text} {words}")
        else:
            turns.append(Turn(number, " ".join([*pending, words])))
            pending = []
    if len({turn.number for turn in turns}) < 2:
        return None
    return turns


def turn_label(session: Session, number: int, word: str = SPEAKER_WORD) -> str:
    """The name the chat gave speaker ``number``, else ``word`` ("Speaker 2")."""
    named = (session.speaker_names or {}).get(str(number))
    return named or word.format(number=number)


def turns_text(
    session: Session, turns: list[Turn], word: str = SPEAKER_WORD, separator: str = "\n"
) -> str:
    """The turns written out: "Speaker 1: ..." (or the name), one turn a line."""
    return separator.join(f"{turn_label(session, t.number, word)}: {t.text}" for t in turns)


def note_text(
    session: Session,
    sequence: int,
    detail: Transcript | None,
    text: str,
    word: str = SPEAKER_WORD,
    separator: str = "\n",
) -> str:
    """The note as it is written: in turns when it has several voices, else ``text``
    (its transcript text) unchanged."""
    turns = note_turns(session, sequence, detail)
    return text if turns is None else turns_text(session, turns, word, separator)


def session_speakers(session: Session) -> list[int]:
    """Every session-wide speaker number recorded for the session, in order."""
    found = {n for numbers in (session.speaker_numbers or {}).values() for n in numbers}
    return sorted(found)


__all__ = [
    "SPEAKER_WORD",
    "Turn",
    "local_numbers",
    "note_text",
    "note_turns",
    "session_speakers",
    "turn_label",
    "turns_text",
]
