"""What the chat reads about written notes: /style, its /status line, the notes' headers,
the taps' toasts and the failures. No setting's name appears here: the chat is for the
people in it, not for the bot's owner."""

from __future__ import annotations

from html import escape

from bot.texts import MESSAGE_LIMIT

# What each style does, as /style explains it (and its buttons' labels).
STYLE_LABELS = {
    "clean": "Clean text",
    "summary": "Summary",
    "todo": "To-dos",
    "minutes": "Minutes",
    "custom": "Your own",
}
STYLE_HELP = {
    "clean": "the transcript as readable prose, nothing left out",
    "summary": "a title and a few bullet points",
    "todo": "to-dos, decisions and open questions",
    "minutes": "minutes by speaker, for several speakers",
    "custom": "written as your own instruction says",
}
NOT_SET_UP = (
    "Written notes (summaries, clean text, to-dos) are not available: the bot's owner has "
    "not set up a language model for this bot."
)
STYLE_USAGE = (
    "/style summary, /style clean, /style todo, /style minutes, "
    "/style custom <your instruction> (for example: /style custom Write it as a short "
    "friendly email), or /style off."
)
CUSTOM_NEEDS_INSTRUCTION = (
    "What should the note be like? For example: /style custom Write it as a short friendly email"
)
SESSION_GONE = "That session is no longer here (it was forgotten or deleted)."
NOT_TRANSCRIBED = "That session has no transcript to write a note from."
REPLY_QUEUED = "Working on it: the answer follows in a moment."
NOTE_FILE_CAPTION = "The note as a Markdown file."


def style_name(style: str | None, default_style: str) -> str:
    """A chat's style as people read it; None is the bot's default."""
    chosen = style if style is not None else default_style
    if chosen == "off" or chosen not in STYLE_LABELS:
        name = "off (no note after the transcript)"
    else:
        name = f"{STYLE_LABELS[chosen]}: {STYLE_HELP[chosen]}"
    return name if style is not None else f"{name} (the bot's default)"


def style_status(style: str | None, instruction: str | None, default_style: str) -> str:
    """/style without arguments: the chat's style, then what it may be."""
    lines = [f"Note after each transcript: {style_name(style, default_style)}."]
    if style == "custom" and instruction:
        lines.append(f"Your instruction: {instruction}")
    lines.append("")
    lines.append("Choose one below, or type " + STYLE_USAGE)
    return "\n".join(lines)


def style_set(style: str | None, instruction: str | None, default_style: str) -> str:
    if style == "off":
        return "Done: no note after the transcripts. The buttons under each transcript still work."
    text = f"Done: after each transcript, a note: {style_name(style, default_style)}."
    if style == "custom" and instruction:
        text += f"\nYour instruction: {instruction}"
    return text


def style_unknown(typed: str) -> str:
    return f"I know no style called “{typed[:40]}”. Try " + STYLE_USAGE


def status_line(style: str | None, default_style: str) -> str:
    """The style's line in /status."""
    return f"Notes: {style_name(style, default_style)}."


def writing(title: str) -> str:
    """The toast of a tap on a note button: the note is on its way."""
    return f"Writing the {title.lower()}..."


def note_header(title: str) -> str:
    """The bold header above a note (HTML)."""
    return f"<b>{escape(title)}</b>"


def with_header(title: str, first: str) -> str | None:
    """The header and the note's first part in one message, when that fits."""
    text = f"{note_header(title)}\n\n{first}"
    return text if len(text) <= MESSAGE_LIMIT else None


def note_failed(title: str, reason: str) -> str:
    """A note that could not be written, with why (one plain sentence from the engine)."""
    return f"The {title.lower()} could not be written: {reason.rstrip('.')}." + (
        " Tap Try again to ask once more."
    )


def note_filename(session_id: str, key: str) -> str:
    return f"{key}_{session_id}.md"


def sent_again(title: str) -> str:
    """The toast of a tap on a note already written: it is sent again, as it was."""
    return f"The {title.lower()} again, as it was written."


REPLY_AGAIN = "Please reply to the transcript with your instruction again."
