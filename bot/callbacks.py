"""The data behind the bot's inline buttons (aiogram callback data, at most 64 bytes).

A session id (``2026-11-24_19-47-41_12``, 22 characters at most) fits whole, so a button
names its session exactly; handlers still check that the session is the tapping chat's.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, _
from bot.note_texts import STYLE_LABELS

STYLE_BUTTON_LABELS = tuple(STYLE_LABELS.values())

# The fixed buttons' labels (a test keeps each translation within what a phone shows).
BUTTON_LABELS = (
    N_("Done"),
    N_("Yes, delete it"),
    N_("Yes, cancel it"),
    N_("No, keep it"),
    N_("« Newer"),
    N_("Older »"),
    N_("Yes, delete everything"),
    N_("Summary"),
    N_("Clean text"),
    N_("To-dos"),
    N_("Try again"),
    # Beside the choices under /lang and /style (bot.handlers).
    N_("Off"),
    N_("Bot default"),
    N_("Recognise each note"),
    *STYLE_BUTTON_LABELS,
)


class DoneButton(CallbackData, prefix="done"):
    """Under each stored note: finish its session, as /done does."""

    session: str


class GetButton(CallbackData, prefix="get"):
    """Send a session's transcript again (from /history and /find)."""

    session: str


class HistoryPage(CallbackData, prefix="hist"):
    """A page of /history: the sessions from ``offset`` (0: the newest) on."""

    offset: int


class ForgetButton(CallbackData, prefix="forget"):
    """The answer to "Forget session ...?": delete it (``confirm``) or keep it."""

    session: str
    confirm: bool


class ForgetAskButton(CallbackData, prefix="forgetask"):
    """One of the sessions a /forget could mean: ask whether to forget that one."""

    session: str


class CancelButton(CallbackData, prefix="cancel"):
    """The answer to "Cancel this session?": discard it (``confirm``) or keep it."""

    session: str
    confirm: bool


def done_keyboard(session_id: str) -> InlineKeyboardMarkup:
    """The "Done" button under the reply to a stored note."""
    button = InlineKeyboardButton(
        text=_("Done"), callback_data=DoneButton(session=session_id).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def forget_keyboard(session_id: str) -> InlineKeyboardMarkup:
    """Yes / No under the question whether to forget a session."""
    yes = ForgetButton(session=session_id, confirm=True).pack()
    no = ForgetButton(session=session_id, confirm=False).pack()
    return _yes_or_no(_("Yes, delete it"), yes, no)


def cancel_keyboard(session_id: str) -> InlineKeyboardMarkup:
    """Yes / No under the question whether to cancel the open session."""
    yes = CancelButton(session=session_id, confirm=True).pack()
    no = CancelButton(session=session_id, confirm=False).pack()
    return _yes_or_no(_("Yes, cancel it"), yes, no)


def _yes_or_no(yes_text: str, yes: str, no: str) -> InlineKeyboardMarkup:
    """A destructive Yes beside a No that keeps everything, on one row."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=yes_text, callback_data=yes),
                InlineKeyboardButton(text=_("No, keep it"), callback_data=no),
            ]
        ]
    )


def get_buttons(
    labelled: list[tuple[str, str]], *, per_row: int = 1
) -> list[list[InlineKeyboardButton]]:
    """One "get this session" button per (label, session id), ``per_row`` to a row."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=GetButton(session=session_id).pack())
        for label, session_id in labelled
    ]
    return [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]


def forget_ask_buttons(labelled: list[tuple[str, str]]) -> list[list[InlineKeyboardButton]]:
    """One "forget this session?" button per (label, session id), one to a row."""
    return [
        [InlineKeyboardButton(text=label, callback_data=ForgetAskButton(session=sid).pack())]
        for label, sid in labelled
    ]


def history_keyboard(
    labelled: list[tuple[str, str]], *, newer: int | None, older: int | None
) -> InlineKeyboardMarkup | None:
    """A button per session, then Newer / Older when there are such pages."""
    rows = get_buttons(labelled)
    paging = []
    if newer is not None:
        paging.append(
            InlineKeyboardButton(text=_("« Newer"), callback_data=HistoryPage(offset=newer).pack())
        )
    if older is not None:
        paging.append(
            InlineKeyboardButton(text=_("Older »"), callback_data=HistoryPage(offset=older).pack())
        )
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


class LanguageButton(CallbackData, prefix="lang"):
    """A choice under /lang: a language code, ``auto`` or ``default``."""

    code: str


class ForgetAllButton(CallbackData, prefix="forgetall"):
    """The answer to "Forget everything of this chat?", asked at ``asked`` (Unix time, to
    the microsecond): a Yes tapped long after deletes nothing, and a Yes never deletes what
    the chat recorded since."""

    confirm: bool
    asked: float


def language_keyboard(choices: list[tuple[str, str]], *, per_row: int = 3) -> InlineKeyboardMarkup:
    """A button per (label, code) under /lang, ``per_row`` to a row."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=LanguageButton(code=code).pack())
        for label, code in choices
    ]
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def forget_all_keyboard(asked: float) -> InlineKeyboardMarkup:
    """Yes / No under the question whether to forget everything of a chat."""
    yes = ForgetAllButton(confirm=True, asked=asked).pack()
    no = ForgetAllButton(confirm=False, asked=asked).pack()
    return _yes_or_no(_("Yes, delete everything"), yes, no)


class StyleButton(CallbackData, prefix="style"):
    """A choice under /style: a style's name, or ``off``."""

    style: str


class NoteButton(CallbackData, prefix="note"):
    """Under a transcript: write (or send again) the note of ``style`` for ``session``."""

    session: str
    style: str


class NoteRetryButton(CallbackData, prefix="noteretry"):
    """Under a note that could not be written: ask for it again."""

    session: str
    key: str


# The on-demand notes under a transcript: (button label, style).
NOTE_BUTTONS = ((N_("Summary"), "summary"), (N_("Clean text"), "clean"), (N_("To-dos"), "todo"))


def note_keyboard(session_id: str) -> InlineKeyboardMarkup:
    """Summary / Clean text / To-dos under a transcript, on one row."""
    row = [
        InlineKeyboardButton(
            text=_(label), callback_data=NoteButton(session=session_id, style=style).pack()
        )
        for label, style in NOTE_BUTTONS
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def note_retry_keyboard(session_id: str, key: str) -> InlineKeyboardMarkup:
    """The "Try again" button under a note's failure."""
    data = NoteRetryButton(session=session_id, key=key).pack()
    button = InlineKeyboardButton(text=_("Try again"), callback_data=data)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def style_keyboard(choices: list[tuple[str, str]], *, per_row: int = 3) -> InlineKeyboardMarkup:
    """A button per (label, style) under /style, ``per_row`` to a row."""
    buttons = [
        InlineKeyboardButton(text=label, callback_data=StyleButton(style=style).pack())
        for label, style in choices
    ]
    return InlineKeyboardMarkup(
        inline_keyboard=[buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    )
