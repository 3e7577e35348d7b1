"""What the chat reads about written notes: /style, its /status line, the notes' headers,
the taps' toasts and the failures. No setting's name appears here: the chat is for the
people in it, not for the bot's owner."""

from __future__ import annotations

from html import escape

from bot.i18n import DEFAULT_LOCALE, N_, _, current_locale, translated
from bot.texts import MESSAGE_LIMIT

# What each style does, as /style explains it (and its buttons' labels): translated where
# read (:func:`style_label`, :func:`style_help`).
STYLE_LABELS = {
    "clean": N_("Clean text"),
    "summary": N_("Summary"),
    "todo": N_("To-dos"),
    "minutes": N_("Minutes"),
    "custom": N_("Your own"),
}
STYLE_HELP = {
    "clean": N_("the transcript as readable prose, nothing left out"),
    "summary": N_("a title and a few bullet points"),
    "todo": N_("to-dos, decisions and open questions"),
    "minutes": N_("minutes by speaker, for several speakers"),
    "custom": N_("written as your own instruction says"),
}
# The notes' titles as the note engine gives them (notes.styles.TITLES, REPLY_TITLE).
_TITLES = (
    N_("Clean text"),
    N_("Summary"),
    N_("To-dos"),
    N_("Minutes"),
    N_("Note"),
    N_("Answer"),
)
# Why a note or an answer was not written, as the note engine says it (notes.client,
# notes.service, notes.ask: plain English sentences, kept as data): said in the chat's
# language by :func:`model_reason`.
REASONS = (
    N_("the language model did not answer"),
    N_("the language model is busy"),
    N_("the language model refused the bot's access"),
    N_("the language model was not found"),
    N_("the language model refused the request"),
    N_("the language model gave no usable answer"),
    N_("the language model's answer did not point to your notes"),
    N_("the session's transcript is no longer there"),
    N_("something went wrong on the bot's side"),
)

# The translated constants (declared for the type checker, answered by __getattr__).
NOT_SET_UP: str
STYLE_USAGE: str
CUSTOM_NEEDS_INSTRUCTION: str
SESSION_GONE: str
NOT_TRANSCRIBED: str
REPLY_QUEUED: str
NOTE_FILE_CAPTION: str
REPLY_AGAIN: str

_TEXTS = {
    "not_set_up": N_(
        "Written notes (summaries, clean text, to-dos) are not available: the bot's owner has "
        "not set up a language model for this bot."
    ),
    "style_usage": N_(
        "/style summary, /style clean, /style todo, /style minutes, /style custom <your "
        "instruction> (for example: /style custom Write it as a short friendly email), or "
        "/style off."
    ),
    "custom_needs_instruction": N_(
        "What should the note be like? For example: /style custom Write it as a short "
        "friendly email"
    ),
    "session_gone": N_("That session is no longer here (it was forgotten or deleted)."),
    "not_transcribed": N_("That session has no transcript to write a note from."),
    "reply_queued": N_("Working on it: the answer follows in a moment."),
    "note_file_caption": N_("The note as a Markdown file."),
    "reply_again": N_("Please reply to the transcript with your instruction again."),
}


def __getattr__(name: str) -> str:
    return translated(_TEXTS, name, __name__)


def style_label(style: str) -> str:
    """A style's label (its button), in the current language."""
    return _(STYLE_LABELS[style])


def note_title(title: str) -> str:
    """A note's title from the engine, in the current language."""
    return _(title)


def _in_sentence(title: str) -> str:
    # English says "the summary"; other languages keep the title as it is written.
    return title.lower() if current_locale() == DEFAULT_LOCALE else _(title)


def style_name(style: str | None, default_style: str) -> str:
    """A chat's style as people read it; None is the bot's default."""
    chosen = style if style is not None else default_style
    if chosen == "off" or chosen not in STYLE_LABELS:
        name = _("off (no note after the transcript)")
    else:
        name = f"{_(STYLE_LABELS[chosen])}: {_(STYLE_HELP[chosen])}"
    return name if style is not None else _("{style} (the bot's default)").format(style=name)


def style_status(style: str | None, instruction: str | None, default_style: str) -> str:
    """/style without arguments: the chat's style, then what it may be."""
    lines = [
        _("Note after each transcript: {style}.").format(style=style_name(style, default_style))
    ]
    if style == "custom" and instruction:
        lines.append(_("Your instruction: {instruction}").format(instruction=instruction))
    lines.append("")
    lines.append(_("Choose one below, or type {usage}").format(usage=_(_TEXTS["style_usage"])))
    return "\n".join(lines)


def style_set(style: str | None, instruction: str | None, default_style: str) -> str:
    if style == "off":
        return _(
            "Done: no note after the transcripts. The buttons under each transcript still work."
        )
    text = _("Done: after each transcript, a note: {style}.").format(
        style=style_name(style, default_style)
    )
    if style == "custom" and instruction:
        text += "\n" + _("Your instruction: {instruction}").format(instruction=instruction)
    return text


def style_unknown(typed: str) -> str:
    return _("I know no style called \u201c{typed}\u201d. Try {usage}").format(
        typed=typed[:40], usage=_(_TEXTS["style_usage"])
    )


def status_line(style: str | None, default_style: str) -> str:
    """The style's line in /status."""
    return _("Notes: {style}.").format(style=style_name(style, default_style))


def writing(title: str) -> str:
    """The toast of a tap on a note button: the note is on its way."""
    return _("Writing the {title}...").format(title=_in_sentence(title))


def note_header(title: str) -> str:
    """The bold header above a note (HTML)."""
    return f"<b>{escape(_(title))}</b>"


def with_header(title: str, first: str) -> str | None:
    """The header and the note's first part in one message, when that fits."""
    text = f"{note_header(title)}\n\n{first}"
    return text if len(text) <= MESSAGE_LIMIT else None


def model_reason(reason: str) -> str:
    """A reason from the note engine (:data:`REASONS`) in the current language; one it
    does not know, as it came."""
    return _(reason)


def note_failed(title: str, reason: str) -> str:
    """A note that could not be written, with why (one plain sentence from the engine)."""
    return _("The {title} could not be written: {reason}. Tap Try again to ask once more.").format(
        title=_in_sentence(title), reason=model_reason(reason).rstrip(".")
    )


def note_filename(session_id: str, key: str) -> str:
    return f"{key}_{session_id}.md"


def sent_again(title: str) -> str:
    """The toast of a tap on a note already written: it is sent again, as it was."""
    return _("The {title} again, as it was written.").format(title=_in_sentence(title))
