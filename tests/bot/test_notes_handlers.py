"""Written notes in the chat, fed in-process through the real dispatcher, with the real
session manager, the real SQLite library and message index, the real Courier and the fake
Bot API. The note service is a stand-in here (what it was asked, what it has stored): these
tests are about the chat's side; the real service and a real model are in test_e2e_notes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aiogram import Bot

from bot import library_texts as lt
from bot import note_texts as nt
from bot import texts
from bot.callbacks import NoteButton, NoteRetryButton, StyleButton
from bot.services.delivery import Courier
from bot.services.message_index import INDEX_PATH, MessageIndex
from bot.services.notes import NoteDelivery, note_parts
from bot.services.notifier import Notifier
from notes.service import NoteFailure, NoteService, WrittenNote
from notes.settings import NoteSettings
from notes.styles import Style
from sessions import FileSessionManager, SessionState, Transcript, TranscriptionStatus
from tests.bot.test_handlers import CHAT, USER, Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.bot.test_library_handlers import last_sent, tap, transcribed_session
from tests.bot.test_library_handlers import library as library  # the fixture, reused
from tests.fake_telegram import SentCall

pytestmark = pytest.mark.timeout(60)

NOTE_BUTTONS = ["Summary", "Clean text", "To-dos"]


@dataclass
class StandInNotes:
    """What the bot asks of the note service, recorded; notes "stored" are handed back."""

    stored: dict[tuple[str, str], WrittenNote] = field(default_factory=dict)
    requests: list[tuple[str, Style, str | None]] = field(default_factory=list)
    replies: list[tuple[str, str, int]] = field(default_factory=list)
    delivered: list[tuple[str, str]] = field(default_factory=list)

    async def request(
        self,
        session_id: str,
        style: Style,
        *,
        instruction: str | None = None,
        key: str | None = None,
    ) -> WrittenNote | None:
        found = self.stored.get((session_id, key or style.value))
        if found is None:
            self.requests.append((session_id, style, instruction))
        return found

    async def request_reply(self, session_id: str, instruction: str, *, reply_to: int) -> None:
        self.replies.append((session_id, instruction, reply_to))

    async def mark_delivered(self, session_id: str, key: str) -> None:
        self.delivered.append((session_id, key))

    def on_ready(self, deliver: Any) -> None:
        pass

    def on_failed(self, report: Any) -> None:
        pass


@dataclass
class Notes:
    service: StandInNotes
    delivery: NoteDelivery
    notifier: Notifier
    courier: Courier


@pytest.fixture
async def notes(
    harness: Harness, library: object, manager: FileSessionManager, sessions_dir: Path, bot: Bot
) -> AsyncIterator[Notes]:
    """The chat's side of notes wired as bot.app wires it, around the stand-in service."""
    messages = MessageIndex(sessions_dir / INDEX_PATH)
    courier = Courier(bot, manager, messages=messages)
    service = StandInNotes()
    delivery = NoteDelivery(manager, courier, cast(NoteService, service))
    harness.dp["courier"] = courier
    harness.dp["messages"] = messages
    harness.dp["notes"] = service
    harness.dp["note_delivery"] = delivery
    notifier = Notifier(bot, manager, courier=courier, note_buttons=True)
    yield Notes(service, delivery, notifier, courier)
    await notifier.stop()


def note(
    session_id: str, key: str = "summary", markdown: str = "# Plan\n- buy milk"
) -> WrittenNote:
    style = None if key.startswith("reply-") else Style(key)
    title = nt.STYLE_LABELS.get(key, "Answer")
    html = ["<b>Plan</b>\n• buy milk"]
    return WrittenNote(session_id, key, style, title, markdown, html)


async def delivered_transcript(
    harness: Harness, notes: Notes, manager: FileSessionManager, text: str = "buy milk tomorrow"
) -> tuple[str, SentCall]:
    """A transcribed session delivered by the notifier; its transcript's last message."""
    sid = await transcribed_session(manager, text, state=SessionState.TRANSCRIBING)
    folder = manager.folder(sid)
    name = folder.write_transcript(1, Transcript(text=text))
    await manager.update_transcription_status(sid, 1, TranscriptionStatus.COMPLETED, name)
    await manager.transition_state(sid, SessionState.TRANSCRIBED)
    await notes.notifier.deliver(sid)
    return sid, last_sent(harness.fake, CHAT)


def labels(call: SentCall) -> list[str]:
    return [label for label, _ in call.buttons()]


def sent_since(harness: Harness, count: int) -> list[SentCall]:
    return [c for c in harness.fake.sent if c.chat_id == CHAT][count:]


def chat_calls(harness: Harness) -> int:
    return len([c for c in harness.fake.sent if c.chat_id == CHAT])


# -- buttons under transcripts ---------------------------------------------------------------


async def test_a_delivered_transcript_and_get_carry_the_note_buttons(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, transcript = await delivered_transcript(harness, notes, manager)
    assert "buy milk tomorrow" in (transcript.text or "")
    assert labels(transcript) == NOTE_BUTTONS
    assert transcript.buttons()[0][1] == NoteButton(session=sid, style="summary").pack()
    await harness.text(f"/get {sid}")
    again = last_sent(harness.fake, CHAT)
    assert "buy milk tomorrow" in (again.text or "")
    assert labels(again) == NOTE_BUTTONS


async def test_without_a_model_there_are_no_buttons_and_style_says_why(
    harness: Harness, library: object, manager: FileSessionManager
) -> None:
    sid = await transcribed_session(manager, "no model here")
    await harness.text(f"/get {sid}")
    assert "no model here" in (last_sent(harness.fake, CHAT).text or "")
    assert last_sent(harness.fake, CHAT).buttons() == []
    await harness.text("/style summary")
    assert harness.replies()[-1] == nt.NOT_SET_UP
    # An old note button (from when a model was set up) is answered, and nothing happens.
    answer = await tap(
        harness,
        CHAT,
        USER,
        last_sent(harness.fake, CHAT),
        NoteButton(session=sid, style="summary").pack(),
    )
    assert answer == {"text": nt.NOT_SET_UP, "show_alert": True}


# -- taps ------------------------------------------------------------------------------------


async def test_a_tap_queues_a_new_note_and_resends_a_stored_one_without_asking_again(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, transcript = await delivered_transcript(harness, notes, manager)
    before = chat_calls(harness)
    answer = await tap(
        harness, CHAT, USER, transcript, NoteButton(session=sid, style="summary").pack()
    )
    assert answer == {"text": "Writing the summary...", "show_alert": False}
    assert notes.service.requests == [(sid, Style.SUMMARY, None)]
    assert chat_calls(harness) == before  # the note follows later, through delivery
    # Written and stored: a second tap sends it again, no new request.
    notes.service.stored[(sid, "summary")] = note(sid)
    answer = await tap(
        harness, CHAT, USER, transcript, NoteButton(session=sid, style="summary").pack()
    )
    assert answer["text"] == nt.sent_again("Summary")
    assert notes.service.requests == [(sid, Style.SUMMARY, None)]
    again = sent_since(harness, before)
    assert [c.method for c in again] == ["sendMessage", "sendDocument"]
    assert again[0].parse_mode == "HTML"
    assert again[0].params["text"].startswith("<b>Summary</b>\n\n<b>Plan</b>")
    assert again[1].document_name == f"summary_{sid}.md"
    assert again[1].document_bytes == b"# Plan\n- buy milk"


async def test_a_tap_on_another_chats_or_a_forgotten_session_is_refused(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    other = await transcribed_session(manager, "not yours", chat=2002)
    _, transcript = await delivered_transcript(harness, notes, manager)
    forged = NoteButton(session=other, style="todo").pack()
    assert await tap(harness, CHAT, USER, transcript, forged) == {
        "text": nt.SESSION_GONE,
        "show_alert": True,
    }
    assert await tap(harness, CHAT, USER, transcript, "note:x:nonsense") == {
        "text": lt.BUTTON_EXPIRED,
        "show_alert": False,
    }
    assert notes.service.requests == []


# -- delivery of written notes ---------------------------------------------------------------


async def test_a_written_note_is_delivered_once_even_across_a_restart(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, _ = await delivered_transcript(harness, notes, manager)
    written = note(sid)
    first_part = note_parts(written)[0]
    # A crash after the first message arrived: the restart sends only what is missing.
    session = await manager.require_session(sid)
    await notes.courier.send(session, first_part)
    before = chat_calls(harness)
    await notes.delivery.deliver(written)
    await notes.delivery.deliver(written)  # handed over again: nothing more is sent
    sent = sent_since(harness, before)
    assert [c.method for c in sent] == ["sendDocument"]
    assert notes.service.delivered == [(sid, "summary"), (sid, "summary")]


async def test_a_long_note_gets_its_header_alone_and_every_part(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, _ = await delivered_transcript(harness, notes, manager)
    parts = ["a" * texts.MESSAGE_LIMIT, "b" * 10]
    long = WrittenNote(sid, "clean", Style.CLEAN, "Clean text", "aaa", parts)
    before = chat_calls(harness)
    await notes.delivery.deliver(long)
    sent = sent_since(harness, before)
    assert [c.params.get("text") for c in sent[:3]] == ["<b>Clean text</b>", *parts]
    assert sent[3].document_name == f"clean_{sid}.md"


async def test_a_failure_is_said_plainly_and_try_again_asks_once_more(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, _ = await delivered_transcript(harness, notes, manager)
    reason = "the language model did not answer."
    await notes.delivery.report(NoteFailure(sid, "summary", reason))
    said = last_sent(harness.fake, CHAT)
    assert said.text == nt.note_failed("Summary", reason)
    assert said.text.startswith(
        "The summary could not be written: the language model did not answer."
    )
    assert labels(said) == ["Try again"]
    answer = await tap(harness, CHAT, USER, said, said.buttons()[0][1])
    assert answer["text"] == "Writing the summary..."
    assert notes.service.requests == [(sid, Style.SUMMARY, None)]
    # An answer to a reply cannot be asked again without its instruction: the chat is told.
    await notes.delivery.report(NoteFailure(sid, "reply-77", reason))
    said = last_sent(harness.fake, CHAT)
    assert said.text == nt.note_failed("Answer", reason)
    retry = NoteRetryButton(session=sid, key="reply-77").pack()
    assert await tap(harness, CHAT, USER, said, retry) == {
        "text": nt.REPLY_AGAIN,
        "show_alert": True,
    }


# -- replies ---------------------------------------------------------------------------------


async def test_a_reply_to_a_transcript_or_a_note_is_an_instruction_for_its_session(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, transcript = await delivered_transcript(harness, notes, manager)
    assert transcript.message_id is not None
    update = harness.fake.text(CHAT, USER, "shorter please", reply_to=transcript.message_id)
    await harness.push(update)
    [(session_id, instruction, reply_to)] = notes.service.replies
    assert (session_id, instruction) == (sid, "shorter please")
    assert harness.replies()[-1] == nt.REPLY_QUEUED
    # A note's message maps to its session too.
    await notes.delivery.deliver(note(sid))
    note_message = [c for c in harness.fake.sent if c.method == "sendMessage"][-1]
    assert note_message.message_id is not None
    await harness.push(
        harness.fake.text(CHAT, USER, "translate it to German", reply_to=note_message.message_id)
    )
    assert notes.service.replies[-1][:2] == (sid, "translate it to German")
    assert notes.service.replies[-1][2] != reply_to


async def test_a_reply_to_anything_else_goes_on_as_before(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    await harness.text("/help")
    help_message = last_sent(harness.fake, CHAT)
    assert help_message.message_id is not None
    await harness.push(harness.fake.text(CHAT, USER, "shorter", reply_to=help_message.message_id))
    assert harness.replies()[-1] == texts.HINT
    assert notes.service.replies == []


async def test_the_message_index_survives_a_restart_and_forgets_deleted_sessions(
    sessions_dir: Path, manager: FileSessionManager
) -> None:
    path = sessions_dir / INDEX_PATH
    sid = await transcribed_session(manager, "kept, then forgotten")
    await MessageIndex(path).remember(CHAT, 17, sid)
    again = MessageIndex(path)  # a new process
    assert await again.session_of(CHAT, 17) == sid
    assert await again.session_of(CHAT + 1, 17) is None
    # Deleting the session (/forget, retention) drops its rows.
    unsubscribe = again.attach(manager.events)
    await manager.delete_session(sid)
    assert await again.session_of(CHAT, 17) is None
    unsubscribe()


# -- /style and /status ----------------------------------------------------------------------


async def test_style_shows_stores_and_refuses_plainly(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    harness.dp["note_settings"] = NoteSettings(
        _env_file=None,  # type: ignore[call-arg]
        llm_base_url="http://127.0.0.1:9/v1",
        llm_default_style="summary",
    )
    await harness.text("/style")
    shown = last_sent(harness.fake, CHAT)
    assert (shown.text or "").startswith(
        "Note after each transcript: Summary: a title and a few bullet points (the bot's default)."
    )
    assert labels(shown) == ["Clean text", "Summary", "To-dos", "Minutes", "Off", "Bot default"]

    await harness.text("/style todo")
    assert (await manager.get_chat_settings(CHAT)).style == "todo"
    assert harness.replies()[-1] == nt.style_set("todo", None, "summary")

    await harness.text("/style custom Write it as a short friendly email")
    settings = await manager.get_chat_settings(CHAT)
    assert (settings.style, settings.style_instruction) == (
        "custom",
        "Write it as a short friendly email",
    )
    await harness.text("/status")
    assert "Notes: Your own: written as your own instruction says." in harness.replies()[-1]

    for typed, reply in (
        ("/style custom", nt.CUSTOM_NEEDS_INSTRUCTION),
        ("/style banana", nt.style_unknown("banana")),
    ):
        await harness.text(typed)
        assert harness.replies()[-1] == reply
    assert (await manager.get_chat_settings(CHAT)).style == "custom"  # nothing changed

    # The buttons: "Off", then back to the bot's default.
    answer = await tap(harness, CHAT, USER, shown, StyleButton(style="off").pack())
    assert answer == {"text": None, "show_alert": False}
    assert (await manager.get_chat_settings(CHAT)).style == "off"
    [edited] = [m for m in harness.fake.messages(CHAT) if m["message_id"] == shown.message_id]
    assert edited["text"] == nt.style_set("off", None, "summary")
    # The answer took the menu's buttons: another tap is "Already done.", a new menu works.
    again = await tap(harness, CHAT, USER, shown, StyleButton(style="default").pack())
    assert again == {"text": texts.ALREADY_DONE, "show_alert": False}
    assert (await manager.get_chat_settings(CHAT)).style == "off"
    await harness.text("/style")
    menu = last_sent(harness.fake, CHAT)
    await tap(harness, CHAT, USER, menu, StyleButton(style="default").pack())
    assert (await manager.get_chat_settings(CHAT)).style is None
    await harness.text("/status")
    assert (
        "Notes: Summary: a title and a few bullet points (the bot's default)."
        in (harness.replies()[-1])
    )


async def test_a_custom_note_tap_uses_the_chats_instruction(
    harness: Harness, notes: Notes, manager: FileSessionManager
) -> None:
    sid, transcript = await delivered_transcript(harness, notes, manager)
    custom = NoteButton(session=sid, style="custom").pack()
    answer = await tap(harness, CHAT, USER, transcript, custom)
    assert answer == {"text": nt.CUSTOM_NEEDS_INSTRUCTION, "show_alert": True}
    await harness.text("/style custom As a haiku")
    await tap(harness, CHAT, USER, transcript, custom)
    assert notes.service.requests == [(sid, Style.CUSTOM, "As a haiku")]
