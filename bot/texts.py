"""What the bot says, in plain text (no parse mode), in the current update's language
(:mod:`bot.i18n`): each constant here is read through ``__getattr__``, so ``texts.START`` is
translated where it is used. The transcript itself is HTML: :mod:`bot.transcript_texts`.
Fitting text into messages (``fit``, ``split_message``...) lives in :mod:`bot.message_fit`
and is re-exported here, where the texts modules and handlers have always found it."""

from __future__ import annotations

from datetime import tzinfo

from bot.i18n import N_, _, ngettext, translated
from bot.message_fit import CAPTION_LIMIT as CAPTION_LIMIT
from bot.message_fit import MESSAGE_LIMIT as MESSAGE_LIMIT
from bot.message_fit import fit as fit
from bot.message_fit import pack_lines as pack_lines
from bot.message_fit import shorten as _shorten
from bot.message_fit import split_message as split_message
from bot.message_fit import without_paths as without_paths
from runtime.formatting import format_duration
from sessions import Session

REASON_LIMIT = 300  # an error reason quoted in the chat: one or two lines, not a traceback
PREVIEW_LIMIT = 160  # of the last note's text in the collecting message: a glimpse, no more

# The translated constants (declared for the type checker, answered by __getattr__).
START: str
HELP: str
HINT: str
NOT_AUDIO_FILE: str
DESCRIPTION: str
SHORT_DESCRIPTION: str
NOTHING_TO_FINISH: str
ACCESS_CLOSED_ALERT: str
ACCESS_CLOSED_GROUP: str
NOT_SAVED_TELEGRAM_TOO_BIG: str
NOT_SAVED_TELEGRAM_REFUSED: str
NOT_SAVED_DISK_FULL: str
NOT_SAVED_DISK_ERROR: str
NOT_SAVED_UNEXPECTED: str
NO_READABLE_AUDIO: str
NO_SPEECH: str
COLLECTING_EMPTY: str
COLLECTING_CANCELLED: str
COLLECTING_DELETED: str
FINISHED: str
CANCEL_KEPT: str
CANCEL_TOO_LATE: str
ALREADY_DONE: str
PROCESSED_NO_FILES: str
COMMANDS: list[tuple[str, str]]

_TEXTS = {
    "start": N_(
        "New session started. Send me voice notes (or audio files, or round videos).\n"
        "Type /done when you are finished and I will send back the transcript."
    ),
    "help": N_(
        "How it works:\n"
        "1. Send voice notes, audio files or round video notes, as many as you like (a "
        "recording sent as a file works too).\n"
        "2. Type /done: I transcribe them on this machine and send back one transcript.\n\n"
        "/start - start a new session (finishes the current one)\n"
        "/done - finish the session and transcribe it (or tap Done under the Recording "
        "message)\n"
        "/undo - take back the last note of the open session\n"
        "/cancel - discard the open session and its notes\n"
        "/history - your sessions, newest first, to get one again\n"
        "/get <session> - send a session's transcript again\n"
        "/find <words> - search your transcripts\n"
        "/ask <question> - an answer from your notes, with where it came from\n"
        "/forget <session> - delete a session for good (/forget all: every session and "
        "this chat's settings)\n"
        "/lang - the language of this chat's notes\n"
        "/vocab - names and words I should write right, e.g. /vocab add Kubernetes, Zoë "
        "Ortega\n"
        "/style - a written note after each transcript: a summary, clean text or to-dos "
        "(reply to a transcript with an instruction, e.g. shorter, for a note of your own)\n"
        "/status - the current session and the last ones\n"
        "/help - this message\n\n"
        "Name a session by when you recorded it, in your time: /get 09:47, /get 2 Dec 09:47 "
        "or /get yesterday 18:10."
    ),
    "hint": N_(
        "I only take voice notes, audio files, round videos, or audio and video sent as a "
        "file. Type /help to see how I work."
    ),
    "not_audio_file": N_(
        "I can't use this file: I only take recordings. Send a voice note, an audio file or "
        "a round video, or send a recording as a file (for example .m4a, .mp3, .wav, .ogg, "
        ".opus, .flac or .mp4). Type /help to see how I work."
    ),
    # What an empty chat with the bot shows (setMyDescription, up to 512 characters) and its
    # profile and share card (setMyShortDescription, up to 120 characters).
    "description": N_(
        "I turn voice notes into text.\n\n"
        "Send me voice notes, audio files or round videos, as many as you like (a recording "
        "sent as a file works too), then type /done: I send back one transcript of them "
        "all.\n\n"
        "I run on my owner's own machine, so your recordings stay there. Tap Start to begin."
    ),
    "short_description": N_(
        "Send voice notes, type /done, get one transcript. Runs on its owner's machine."
    ),
    "nothing_to_finish": N_("There is nothing to transcribe yet: send me a voice note first."),
    "access_closed_alert": N_("Access to this bot is closed."),
    # A stranger in a group: one line. How to let oneself in (the .env) is for the owner, in
    # a private chat with the bot.
    "access_closed_group": N_("This bot is private: only the people its owner lets in can use it."),
    # A note that could not be stored: sent as a reply to it, so the chat shows which one.
    "not_saved_telegram_too_big": N_(
        "I could not save this note: Telegram would not hand over the file (it is larger "
        "than the 20 MB a bot may download)."
    ),
    "not_saved_telegram_refused": N_(
        "I could not save this note: Telegram would not hand over the file. Please send it again."
    ),
    "not_saved_disk_full": N_(
        "I could not save this note: the disk of the bot's machine is full. Free some space "
        "there, then send it again."
    ),
    "not_saved_disk_error": N_(
        "I could not save this note: writing it to the disk of the bot's machine failed. "
        "Please send it again."
    ),
    "not_saved_unexpected": N_(
        "I could not save this note: something went wrong on the bot's side (its log has "
        "the details). Please send it again."
    ),
    "no_readable_audio": N_(
        "This file has no audio I can read, so it was not saved. The session goes on: send "
        "the next note."
    ),
    "no_speech": N_("no speech recognised."),
    "collecting_empty": N_(
        "No notes in this session now (all taken back). Send a voice note to go on."
    ),
    "collecting_cancelled": N_("Cancelled: the notes of this session were discarded."),
    "collecting_deleted": N_("This session was deleted."),
    # The session's message once nothing is left to wait for: short, the transcript follows.
    "finished": N_("Finished: the transcript is below."),
    # /cancel of a session with more than one note asks first.
    "cancel_kept": N_("Kept: the session stays open. Send more, or tap Done for the transcript."),
    "cancel_too_late": N_("This session is no longer open, so there is nothing to cancel."),
    # A tap on a question already answered (a second tap, an old button): a quiet toast.
    "already_done": N_("Already done."),
    "processed_no_files": N_("Processing finished; it produced no files."),
}

_COMMANDS = [
    ("start", N_("Start a new session")),
    ("done", N_("Finish the session and get the transcript")),
    ("undo", N_("Take back the last note")),
    ("cancel", N_("Discard the open session")),
    ("history", N_("Your sessions, to get one again")),
    ("get", N_("Send a session's transcript again")),
    ("find", N_("Search your transcripts")),
    ("ask", N_("A question answered from your notes")),
    ("forget", N_("Delete a session for good")),
    ("lang", N_("Language of this chat's notes")),
    ("vocab", N_("Names and words to get right")),
    ("style", N_("A written note after each transcript")),
    ("status", N_("Current session and recent ones")),
    ("help", N_("How to use this bot")),
]


# /speakers is offered only where the owner enabled DIARIZATION: not in COMMANDS and HELP,
# added by commands() and help_text().
_SPEAKERS_COMMAND = ("speakers", N_("Who speaks when in a recording"))
_SPEAKERS_HELP = N_(
    "/speakers - a recording with several voices in turns (Speaker 1, Speaker 2): /speakers "
    "on or off, /speakers 1 Anna names a voice"
)


def __getattr__(name: str) -> object:
    if name == "COMMANDS":
        return [(command, _(description)) for command, description in _COMMANDS]
    return translated(_TEXTS, name, __name__)


def start_after_previous(count: int) -> str:
    """/start while the open session's notes are still being transcribed: the one answer,
    which says where that session's transcript is."""
    return _(
        "{start}\nYour previous session ({notes}) is still being transcribed: its "
        "transcript follows when it is ready."
    ).format(start=_(_TEXTS["start"]), notes=notes(count))


def help_text(*, multilingual: bool, speakers: bool = False) -> str:
    """/help: every command, /lang only where the model knows other languages and /speakers
    only where the owner enabled ``DIARIZATION`` (as the menu, :func:`commands`)."""
    lines = _(_TEXTS["help"]).split("\n")
    if not multilingual:
        lines = [line for line in lines if not line.startswith("/lang ")]
    if speakers:  # before /status, as in the menu (at the end if a translation lacks it)
        at = next((i for i, line in enumerate(lines) if line.startswith("/status ")), len(lines))
        lines.insert(at, _(_SPEAKERS_HELP))
    return "\n".join(lines)


def commands(*, multilingual: bool, speakers: bool = False) -> list[tuple[str, str]]:
    """The command menu (setMyCommands): /lang only where the model knows other languages,
    /speakers only where the owner enabled ``DIARIZATION`` (before /status)."""
    listed = [(c, d) for c, d in _COMMANDS if multilingual or c != "lang"]
    if speakers:
        at = next(i for i, (c, _d) in enumerate(listed) if c == "status")
        listed.insert(at, _SPEAKERS_COMMAND)
    return [(c, _(d)) for c, d in listed]


def megabytes(size: int) -> str:
    return _("{size} MB").format(size=f"{size / (1024 * 1024):.1f}")


def notes(count: int) -> str:
    return ngettext("{count} note", "{count} notes", count).format(count=count)


def access_closed(user_id: int) -> str:
    return _(
        "Access to this bot is closed.\n"
        "Your Telegram user id is {user_id}. To let yourself in, add it to ALLOWED_USER_IDS "
        "in the bot's .env and restart it."
    ).format(user_id=user_id)


def too_long(actual: float, limit: int) -> str:
    return _(
        "This recording is {actual} long; the limit is {limit}, so it is {over} over. It "
        "was not saved."
    ).format(
        actual=format_duration(actual),
        limit=format_duration(limit),
        over=format_duration(actual - limit),
    )


def too_big(actual: int, limit: int) -> str:
    return _(
        "This file is {actual}; I can download at most {limit}, so it is {over} over. It "
        "was not saved."
    ).format(actual=megabytes(actual), limit=megabytes(limit), over=megabytes(actual - limit))


def too_big_unannounced(limit: int) -> str:
    return _("This file is larger than the {limit} I can download. It was not saved.").format(
        limit=megabytes(limit)
    )


def not_saved_download_failed(attempts: int) -> str:
    return ngettext(
        "I could not save this note: downloading it from Telegram failed {attempts} time. "
        "Please send it again.",
        "I could not save this note: downloading it from Telegram failed {attempts} times. "
        "Please send it again.",
        attempts,
    ).format(attempts=attempts)


def collecting(count: int, total_seconds: float, preview: tuple[int, str] | None = None) -> str:
    """The one message of an open session, edited as notes arrive: how much is recorded,
    and the newest note live transcription has finished (its number and first words)."""
    lines = [
        _("Recording: {notes}, {duration}.").format(
            notes=notes(count), duration=format_duration(total_seconds)
        )
    ]
    if preview is not None:
        sequence, text = preview
        glimpse = _shorten(text, PREVIEW_LIMIT)
        # Silence is said as a remark, never in quotes as if it were what was said.
        if glimpse:
            lines.append(
                _("Note {number}: \u201c{text}\u201d").format(number=sequence, text=glimpse)
            )
        else:
            lines.append(
                _("Note {number}: {text}").format(number=sequence, text=_(_TEXTS["no_speech"]))
            )
    lines.append(_("Send more, or tap Done for the transcript."))
    return "\n".join(lines)


def transcribing(count: int, done: int) -> str:
    """The session's message once /done came, while notes are left to transcribe (the
    transcript says how many and how long: not repeated here)."""
    if count == 1:
        return _("Transcribing the note...")
    return ngettext(
        "Transcribing: {done} of {count} note done...",
        "Transcribing: {done} of {count} notes done...",
        count,
    ).format(done=done, count=count)


def cancel_question(count: int, total_seconds: float) -> str:
    return ngettext(
        "Cancel this session? Its {notes} ({duration}) is deleted for good.",
        "Cancel this session? Its {notes} ({duration}) are deleted for good.",
        count,
    ).format(notes=notes(count), duration=format_duration(total_seconds))


def transcript_file_caption(count: int) -> str:
    return _("The whole transcript ({notes}) as a text file.").format(notes=notes(count))


def session_failed(session: Session) -> str:
    reason = session.errors[-1].message if session.errors else _("unknown error")
    reason = _shorten(without_paths(reason), REASON_LIMIT)
    return _("Session {session} could not be transcribed: {reason}.").format(
        session=session.session_id, reason=reason
    )


def processing_failed(reason: str, session_id: str | None = None) -> str:
    reason = _shorten(without_paths(reason), REASON_LIMIT)
    if session_id is None:
        return _("Processing the transcript failed: {reason}").format(reason=reason)
    return _("Processing the transcript failed (session {session}): {reason}").format(
        session=session_id, reason=reason
    )


def outputs_not_sent(empty: list[str], not_files: list[str]) -> str:
    """Why some of the processor's outputs were not sent (both lists hold file names)."""
    lines = []
    if empty:
        lines.append(_("Not sent, because they are empty: {names}.").format(names=", ".join(empty)))
    if not_files:
        lines.append(
            _("Not sent, because they are not plain files: {names}.").format(
                names=", ".join(not_files)
            )
        )
    return fit("\n".join(lines))


def output_too_big(name: str, size: int, limit: int) -> str:
    return _(
        "{name} is {size}, over the {limit} a bot may send; it is kept in the session's "
        "process/output/ folder on the bot's machine."
    ).format(name=name, size=megabytes(size), limit=megabytes(limit))


def zone_note(zone: tzinfo) -> str:
    """The time zone, said once per message: "times in Europe/Berlin"."""
    return _("times in {zone}").format(zone=zone)
