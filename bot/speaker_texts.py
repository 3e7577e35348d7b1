"""What the bot says about speaker turns inside recordings: ``/speakers`` and the word an
unnamed voice gets in the chat's transcript. In the current update's language
(:mod:`bot.i18n`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.i18n import N_, _, translated

# The translated constants (declared for the type checker, answered by __getattr__).
SPEAKERS_NOT_ENABLED: str
SPEAKERS_NO_SESSION: str
SPEAKERS_USAGE: str

_TEXTS = {
    "speakers_not_enabled": N_(
        "Speaker turns are not available: the bot's owner has not turned them on."
    ),
    "speakers_no_session": N_(
        "There is no session to name speakers in yet: send a recording with several voices first."
    ),
    "speakers_usage": N_(
        "/speakers on: a recording with several voices comes back in turns (Speaker 1, "
        "Speaker 2). /speakers off: as one block of text. /speakers 1 Anna: name speaker 1 "
        "of the latest session (/speakers 1 alone takes the name away)."
    ),
}


def __getattr__(name: str) -> str:
    return translated(_TEXTS, name, __name__)


def speaker_word() -> str:
    """An unnamed voice in the chat's transcript, with its ``{number}`` placeholder."""
    return _("Speaker {number}")


def speakers_status(
    on: bool, enabled: bool, session: str | None, numbers: Sequence[int], names: Mapping[str, str]
) -> str:
    """``/speakers`` alone: whether turns are on in this chat, and the latest session's
    speakers with their names."""
    if not enabled:
        lines = [_(_TEXTS["speakers_not_enabled"])]
    elif on:
        lines = [_("Speaker turns in this chat's recordings: on.")]
    else:
        lines = [_("Speaker turns in this chat's recordings: off.")]
    if session is not None and (numbers or names):
        lines += ["", _("Speakers of the session {session}:").format(session=session)]
        shown = sorted({*numbers, *(int(n) for n in names)})
        for number in shown:
            word = speaker_word().format(number=number)
            name = names.get(str(number))
            lines.append(f"{word}: {name}" if name else word)
    lines += ["", _(_TEXTS["speakers_usage"])]
    return "\n".join(lines)


def speakers_set(on: bool) -> str:
    """The answer to ``/speakers on`` or ``off``."""
    if on:
        return _(
            "Speaker turns are on: a recording with several voices comes back in turns "
            "(Speaker 1, Speaker 2). It applies to notes not transcribed yet."
        )
    return _(
        "Speaker turns are off: recordings come back as one block of text. It applies to "
        "notes not transcribed yet."
    )


def speaker_named(number: int, name: str | None, session: str, finished: bool) -> str:
    """The answer to ``/speakers 1 Anna``: what changed, and where it shows."""
    if name:
        said = _("Speaker {number} of the session {session} is now called {name}.").format(
            number=number, session=session, name=name
        )
    else:
        said = _("Speaker {number} of the session {session} has no name now.").format(
            number=number, session=session
        )
    if not finished:
        return f"{said} " + _("The transcript will show this once the session is finished.")
    return f"{said} " + _(
        "Messages already sent stay as they were; /get sends the transcript again with the "
        "names, and written notes made from now on use them."
    )


def speaker_unknown(number: int, count: int) -> str:
    """``/speakers 5 Anna`` in a session with fewer speakers."""
    return _(
        "The latest session has no speaker {number}: its speakers are numbered 1 to {count}."
    ).format(number=number, count=count)
