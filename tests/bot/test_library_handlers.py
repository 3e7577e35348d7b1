"""The library's commands and buttons, fed in-process through the real dispatcher, with the
real session manager, the real SQLite index and the fake Bot API (no model): each chat kept
to its own sessions, short forms of ids, a stranger's tap, a button nobody knows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from aiogram import Bot

from bot import library_texts as lt
from bot import texts
from bot.handlers.library import label_of
from bot.services.delivery import Courier
from bot.services.notifier import Notifier
from library.index import SessionLibrary, library_path
from sessions import (
    AudioEntry,
    FileSessionManager,
    SessionState,
    Transcript,
    TranscriptionStatus,
)
from tests.bot.test_handlers import CHAT, STRANGER, USER, Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.fake_telegram import FakeTelegram, SentCall

pytestmark = pytest.mark.timeout(60)

OTHER = 2002  # another chat of the same (allowed) user


@pytest.fixture
async def library(
    harness: Harness, manager: FileSessionManager, sessions_dir: Path, bot: Bot
) -> AsyncIterator[SessionLibrary]:
    library = SessionLibrary(library_path(sessions_dir), manager)
    await library.open()
    await library.wait_idle()  # the new index made (in the background)
    library.attach()
    harness.dp["library"] = library
    harness.dp["courier"] = Courier(bot, manager)
    yield library
    library.detach()
    await library.close()


async def transcribed_session(
    manager: FileSessionManager, text: str, *, chat: int = CHAT, state: SessionState | None = None
) -> str:
    """A TRANSCRIBED, delivered session of ``chat`` with one note saying ``text``, made by
    the real session manager (``state``: stop at TRANSCRIBING instead)."""
    session = await manager.create_session(chat)
    sid = session.session_id
    entry = AudioEntry(sequence=1, filename="001_audio.ogg", duration_seconds=2.0, message_id=1)
    await manager.add_audio(sid, entry)
    folder = manager.folder(sid)
    folder.audio_path(entry.filename).write_bytes(b"OggS fake audio")
    await manager.finalize_session(sid)
    if state is SessionState.TRANSCRIBING:
        return sid
    name = folder.write_transcript(1, Transcript(text=text))
    await manager.update_transcription_status(sid, 1, TranscriptionStatus.COMPLETED, name)
    folder.write_process_input(text)
    await manager.transition_state(sid, SessionState.TRANSCRIBED)
    await manager.mark_delivered(sid)
    return sid


async def tap(
    harness: Harness, chat: int, user: int, message: SentCall, data: str
) -> dict[str, object]:
    """Tap a button with ``data`` under the bot's ``message``; the answer it got."""
    assert message.message_id is not None
    query = harness.fake.callback(chat, user, message.message_id, data)
    [update] = [
        u for u in harness.fake.pending_updates() if u.get("callback_query", {}).get("id") == query
    ]
    await harness.feed(update)
    return harness.fake.callback_answers[query]


def last_sent(fake: FakeTelegram, chat: int) -> SentCall:
    return [c for c in fake.sent if c.chat_id == chat][-1]


async def test_another_chats_session_is_answered_like_an_unknown_id(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    sid = await transcribed_session(manager, "the walrus keeps a secret")
    await library.wait_idle()
    for command in (f"/get {sid}", f"/get {sid[11:]}", f"/forget {sid}"):
        await harness.text(command, chat=OTHER)
        assert harness.replies(OTHER)[-1] == lt.unknown_session(command.split(" ", 1)[1])
    await harness.text("/find walrus", chat=OTHER)
    assert harness.replies(OTHER)[-1] == "No note in this chat's transcripts matches “walrus”."
    await harness.text("/history", chat=OTHER)
    mine = last_sent(harness.fake, OTHER)
    assert mine.text == lt.HISTORY_EMPTY
    answer = await tap(harness, OTHER, USER, mine, f"get:{sid}")
    assert answer == {"text": lt.unknown_session(sid), "show_alert": False}
    # An answer to a question this message never asked: nothing done, a quiet toast.
    answer = await tap(harness, OTHER, USER, mine, f"forget:{sid}:1")
    assert answer == {"text": texts.ALREADY_DONE, "show_alert": False}
    assert not [t for t in harness.replies(OTHER) if "keeps a secret" in t]
    assert await manager.get_session(sid) is not None
    # ... while its own chat finds and gets it.
    await harness.text("/find walrus")
    found = last_sent(harness.fake, CHAT)
    assert found.parse_mode == "HTML"
    assert "<b>walrus</b>" in found.params["text"]
    await harness.text(f"/get {sid}")
    again = harness.replies()[-1]
    assert f"\nSession id {sid}\n" in again
    assert again.endswith("\nthe walrus keeps a secret")


async def test_short_forms_of_an_id(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    first = await transcribed_session(manager, "first one")
    second = await transcribed_session(manager, "second one")
    assert first != second
    await harness.text(f"/get {first}")  # a whole id is exact, even if a longer one holds it
    assert f"\nSession id {first}\n" in harness.replies()[-1]
    common = first[:10]  # the date: both have it
    await harness.text(f"/get {common}")
    choice = last_sent(harness.fake, CHAT)
    assert choice.params["text"] == lt.ambiguous_session(common, 2)
    assert [data for _, data in choice.buttons()] == [f"get:{second}", f"get:{first}"]
    await harness.text(f"/get {second[11:]}")  # a part of the id: the old UTC short form
    assert f"\nSession id {second}\n" in harness.replies()[-1]
    await harness.text("/get 1999-01-01")
    assert harness.replies()[-1] == lt.unknown_session("1999-01-01", "1 Jan 1999")
    await harness.text("/get")
    assert harness.replies()[-1] == lt.GET_USAGE


async def test_a_strangers_tap_is_refused_and_does_nothing(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    await harness.voice()
    ack = last_sent(harness.fake, CHAT)
    [(_, data)] = ack.buttons()
    answer = await tap(harness, CHAT, STRANGER, ack, data)
    assert answer == {"text": texts.ACCESS_CLOSED_ALERT, "show_alert": True}
    session = await manager.get_active_session(CHAT)
    assert session is not None
    assert session.state is SessionState.COLLECTING
    answer = await tap(harness, CHAT, USER, ack, data)
    assert answer == {"text": None, "show_alert": False}
    assert (await manager.require_session(session.session_id)).state is not SessionState.COLLECTING
    again = await tap(harness, CHAT, USER, ack, data)  # the same button, once more
    assert again == {"text": lt.DONE_ALREADY, "show_alert": False}


async def test_a_button_nobody_knows_is_answered(harness: Harness, library: SessionLibrary) -> None:
    await harness.text("/history")
    shown = last_sent(harness.fake, CHAT)
    answer = await tap(harness, CHAT, USER, shown, "from-an-older-version")
    assert answer == {"text": lt.BUTTON_EXPIRED, "show_alert": False}


async def test_forget_waits_for_transcription_to_end(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    sid = await transcribed_session(manager, "", state=SessionState.TRANSCRIBING)
    await harness.text(f"/forget {sid}")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    await tap(harness, CHAT, USER, question, yes)
    session = await manager.require_session(sid)
    assert harness.replies()[-1] == lt.forget_busy(session, await label_of(manager, session, UTC))
    assert manager.get_session_path(sid).is_dir()


async def test_undo_then_cancel_and_nothing_is_delivered_for_a_cancelled_session(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager, bot: Bot
) -> None:
    notifier = Notifier(bot, manager)
    notifier.attach()
    await harness.voice(duration=3)
    await harness.voice(duration=5)
    session = await manager.get_active_session(CHAT)
    assert session is not None
    await harness.text("/undo")
    # The answer, and the collecting message edited to match (in either order).
    assert sorted(harness.replies()[-2:]) == sorted(
        ["Removed note 2 (0:05). The session now has 1 note, 0:03.", texts.collecting(1, 3)]
    )
    await harness.text("/cancel")
    assert sorted(harness.replies()[-2:]) == sorted(
        [lt.cancelled(session.session_id, 1), texts.COLLECTING_CANCELLED]
    )
    await notifier.wait_idle()
    await notifier.stop()
    cancelled = await manager.require_session(session.session_id)
    assert cancelled.state is SessionState.ERROR
    assert cancelled.delivered_at is not None  # closed quietly ...
    assert not [t for t in harness.replies() if "could not be transcribed" in t]  # ... unsaid
    await harness.text("/cancel")
    assert harness.replies()[-1] == lt.NOTHING_TO_CANCEL


async def test_undo_takes_back_the_notes_reaction_and_names_its_words(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    first = int((await harness.voice(duration=3))["message"]["message_id"])
    second = int((await harness.voice(duration=5))["message"]["message_id"])
    session = await manager.get_active_session(CHAT)
    assert session is not None
    folder = manager.folder(session.session_id)
    name = folder.write_transcript(2, Transcript(text="Call the dentist about Monday, please."))
    await manager.update_transcription_status(
        session.session_id, 2, TranscriptionStatus.COMPLETED, name
    )
    await harness.text("/undo")
    removed = "Removed note 2 (0:05, “Call the dentist about Monday…”). The session now has"
    assert any(t.startswith(removed) for t in harness.replies())
    assert harness.fake.reactions(CHAT) == {first: ["\u270d"], second: []}


async def test_cancel_of_several_notes_asks_and_a_yes_too_late_cancels_nothing(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    await harness.voice(duration=3)
    await harness.voice(duration=4)
    session = await manager.get_active_session(CHAT)
    assert session is not None
    await harness.text("/cancel")
    question = last_sent(harness.fake, CHAT)
    assert question.text == texts.cancel_question(2, 7)
    [(_, yes), (_, no)] = question.buttons()
    assert (await manager.require_session(session.session_id)).state is SessionState.COLLECTING
    await tap(harness, CHAT, USER, question, no)
    assert harness.replies()[-1] == texts.CANCEL_KEPT
    # Asked again, then the session finished (/done) before the Yes: it is not cancelled.
    await harness.text("/cancel")
    question = last_sent(harness.fake, CHAT)
    await harness.text("/done")
    assert await tap(harness, CHAT, USER, question, yes) == {"text": None, "show_alert": False}
    assert harness.replies()[-1] == texts.CANCEL_TOO_LATE
    assert (await manager.require_session(session.session_id)).state is SessionState.TRANSCRIBING
    # With one note, /cancel acts at once.
    await harness.voice(duration=3)
    one = await manager.get_active_session(CHAT)
    assert one is not None
    await harness.text("/cancel")
    assert lt.cancelled(one.session_id, 1) in harness.replies()


async def test_a_search_index_that_fails_gets_a_plain_reply(
    harness: Harness, library: SessionLibrary
) -> None:
    await library.close()  # as if the database failed while the bot runs
    await harness.text("/find walrus")
    assert harness.replies()[-1] == lt.SEARCH_UNAVAILABLE


async def test_forget_with_a_failing_search_index_keeps_the_session_and_answers(
    harness: Harness, library: SessionLibrary, manager: FileSessionManager
) -> None:
    sid = await transcribed_session(manager, "the walrus")
    await harness.text(f"/forget {sid}")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    await library.close()  # as if the index's database failed while the bot runs
    await tap(harness, CHAT, USER, question, yes)
    label = await label_of(manager, await manager.require_session(sid), UTC)
    assert harness.replies()[-1] == lt.forget_failed(label)
    assert await manager.get_session(sid) is not None


async def test_forget_keeps_a_session_work_began_on_as_it_was_deleted(
    harness: Harness,
    library: SessionLibrary,
    manager: FileSessionManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid = await transcribed_session(manager, "the walrus")
    await library.wait_idle()
    await harness.text(f"/forget {sid}")
    question = last_sent(harness.fake, CHAT)
    [(_, yes), _] = question.buttons()
    removing = library.remove_session

    async def then_taken(session_id: str) -> None:
        await removing(session_id)
        # The processing stage takes it between its state's check and its deletion.
        await manager.transition_state(session_id, SessionState.PROCESSING)

    monkeypatch.setattr(library, "remove_session", then_taken)
    await tap(harness, CHAT, USER, question, yes)
    session = await manager.require_session(sid)
    assert session.state is SessionState.PROCESSING
    assert harness.replies()[-1] == lt.forget_busy(session, await label_of(manager, session, UTC))
    assert [hit.session_id for hit in await library.search(CHAT, "walrus")] == [sid]
