"""Written notes in the chat: a note the language model wrote is sent as its own messages
(a bold title, then its parts, Telegram HTML) and as a ``.md`` file; a note that could not
be written is said in one plain sentence with a "Try again" button.

Every message goes through the :class:`~bot.services.delivery.Courier`, which records each
part that arrived under ``note/<key>/...`` in the session's delivery record, so a restart
sends only what is missing; once all arrived the note service is told
(``mark_delivered``), and does not hand the note over again. A stored note asked for again
(a second tap) is sent again without a model call and without touching that record.
"""

from __future__ import annotations

import structlog

from bot import note_texts as nt
from bot.callbacks import note_retry_keyboard
from bot.i18n import ChatSpeech, in_chat
from bot.services.delivery import Courier, Part
from notes.service import NoteFailure, NoteService, WrittenNote
from notes.styles import REPLY_TITLE, TITLES, Style
from sessions import Session, SessionManager

_log = structlog.get_logger("bot.notes")

NOTE = "note"  # delivery part keys: note/<key>/<n>, note/<key>/file


def title_of(key: str) -> str:
    """A note's title from its key (for a failure, which carries none), as the engine
    titles the note itself."""
    try:
        return TITLES[Style(key)]
    except ValueError:  # reply-<n>
        return REPLY_TITLE


def note_parts(note: WrittenNote) -> list[Part]:
    """The note's messages (the bold title over the first part, or alone when they do not
    fit together) and its Markdown file."""
    prefix = f"{NOTE}/{note.key}"
    messages = list(note.html_parts) or [""]
    first = nt.with_header(note.title, messages[0]) if messages[0] else nt.note_header(note.title)
    if first is None:  # a first part cut to the limit: the header goes on its own
        messages.insert(0, nt.note_header(note.title))
    else:
        messages[0] = first
    parts = [Part(f"{prefix}/{n}", text=m, html=True) for n, m in enumerate(messages, start=1)]
    data = note.markdown.encode()
    if data:
        name = nt.note_filename(note.session_id, note.key)
        parts.append(
            Part(f"{prefix}/file", data=data, filename=name, caption=nt.note_title(note.title))
        )
    return parts


class NoteDelivery:
    """Sends written notes and their failures to the session's chat, in the chat's language
    (``speech``: sent outside an update, like the transcript; English without it)."""

    def __init__(
        self,
        manager: SessionManager,
        courier: Courier,
        notes: NoteService,
        speech: ChatSpeech | None = None,
    ) -> None:
        self._manager = manager
        self._courier = courier
        self._notes = notes
        self._speech = speech

    def attach(self) -> None:
        """Receive the service's notes and failures from now on."""
        self._notes.on_ready(self.deliver)
        self._notes.on_failed(self.report)

    async def deliver(self, note: WrittenNote) -> None:
        """Send what of ``note`` has not arrived yet, then tell the service it was."""
        session = await self._manager.get_session(note.session_id)
        if session is not None:  # forgotten meanwhile: nothing to send it to
            with in_chat(self._speech, session.chat_id):
                parts = note_parts(note)
            await self._courier.send_all(session, parts)
            _log.info("note_delivered", session_id=note.session_id, key=note.key)
        await self._notes.mark_delivered(note.session_id, note.key)

    async def resend(self, session: Session, note: WrittenNote) -> bool:
        """Send a stored note again (a second tap): no model call, no record."""
        _log.info("note_resent", session_id=session.session_id, key=note.key)
        return await self._courier.resend(session, note_parts(note))

    async def report(self, failure: NoteFailure) -> None:
        """Say that a note could not be written, with a button to ask again."""
        session = await self._manager.get_session(failure.session_id)
        if session is None:
            return
        with in_chat(self._speech, session.chat_id):
            text = nt.note_failed(title_of(failure.key), failure.reason)
            keyboard = note_retry_keyboard(failure.session_id, failure.key)
        part = Part(f"{NOTE}/{failure.key}/failed", text=text, keyboard=keyboard)
        # Not recorded: a later failure of the same note (after Try again) is said again.
        await self._courier.send(session, part, record=False)
        _log.info("note_failure_reported", session_id=failure.session_id, key=failure.key)


async def ask_for_note(
    notes: NoteService,
    delivery: NoteDelivery,
    session: Session,
    style: Style,
    instruction: str | None,
) -> bool:
    """Ask for ``session``'s note of ``style``: a stored one is sent again at once (True),
    a new one is queued and follows (False)."""
    stored = await notes.request(session.session_id, style, instruction=instruction)
    if stored is None:
        return False
    await delivery.resend(session, stored)
    return True
