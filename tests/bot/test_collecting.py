"""Fewer messages while collecting: a reaction per stored note, one message per session.

Updates go through the bot's dispatcher in-process; every reaction, message and edit goes
over real HTTP to the fake Bot API, and the sessions are real folders.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from aiogram import Bot

from bot import texts
from bot.services.collecting import STORED_REACTION, CollectingStatus
from sessions import FileSessionManager, Transcript, TranscriptionStatus
from tests.bot.test_handlers import CHAT, Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.conftest import TIMEOUT_SCALE, add_note
from tests.fake_telegram import FakeTelegram

pytestmark = pytest.mark.timeout(60)


def collecting_calls(fake: FakeTelegram) -> list[tuple[str, str]]:
    """(method, first line) of each message sent or edited in CHAT, but the reactions."""
    return [
        (c.method, (c.text or "").split("\n")[0])
        for c in fake.sent
        if c.chat_id == CHAT and c.method in {"sendMessage", "editMessageText"}
    ]


async def test_each_note_gets_a_reaction_and_one_message_follows_them(harness: Harness) -> None:
    notes = [int((await harness.voice(duration=d))["message"]["message_id"]) for d in (3, 4, 5)]
    assert harness.fake.reactions(CHAT) == {m: [STORED_REACTION] for m in notes}
    assert collecting_calls(harness.fake) == [
        ("sendMessage", "Recording: 1 note, 0:03."),
        ("editMessageText", "Recording: 2 notes, 0:07."),
        ("editMessageText", "Recording: 3 notes, 0:12."),
    ]
    edits = {c.message_id for c in harness.fake.sent if c.method == "editMessageText"}
    [sent] = [c for c in harness.fake.sent if c.method == "sendMessage"]
    assert edits == {sent.message_id}  # the same message, edited
    assert sent.buttons()[0][0] == "Done"
    assert sent.params.get("disable_notification") in (True, "true", "True")  # no ping per note
    assert not any("reply_to_message" in m for m in harness.fake.messages(CHAT) if m.get("text"))


async def test_the_message_shows_the_newest_live_transcript(
    harness: Harness, manager: FileSessionManager
) -> None:
    await harness.voice(duration=3)
    await harness.voice(duration=3)
    session = await manager.get_active_session(CHAT)
    assert session is not None
    folder = manager.folder(session.session_id)
    for sequence, said in ((2, "the second <note>\nsaid this"), (1, "the first one")):
        name = folder.write_transcript(sequence, Transcript(text=said))
        await manager.update_transcription_status(
            session.session_id, sequence, TranscriptionStatus.COMPLETED, name
        )
        await harness.collecting.wait_idle()
    # Note 2 is the newest with a transcript, though note 1 finished after it.
    assert harness.replies()[-1] == texts.collecting(2, 6, (2, "the second <note> said this"))
    assert "Note 2: \u201cthe second <note> said this\u201d" in harness.replies()[-1]


async def test_undo_to_nothing_drops_the_button_and_the_next_note_brings_it_back(
    harness: Harness,
) -> None:
    await harness.voice(duration=3)
    await harness.text("/undo")
    collecting = harness.fake.messages(CHAT)[1]  # the note, then the collecting message
    assert collecting["text"] == texts.COLLECTING_EMPTY
    assert "reply_markup" not in collecting
    await harness.voice(duration=4)
    collecting = harness.fake.messages(CHAT)[1]
    assert collecting["text"] == texts.collecting(1, 4)
    assert collecting["reply_markup"]["inline_keyboard"][0][0]["text"] == "Done"


async def test_a_refused_reaction_still_leaves_the_message(harness: Harness) -> None:
    # Reactions can be switched off in a chat: the note is stored and the message says so.
    harness.fake.fail_next("setMessageReaction", status=400, description="REACTION_INVALID")
    await harness.voice(duration=3)
    assert harness.fake.reactions(CHAT) == {}
    assert harness.replies() == [texts.collecting(1, 3)]
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert len(session.audio_entries) == 1


async def test_a_message_that_could_not_be_sent_is_sent_with_the_next_note(
    harness: Harness,
) -> None:
    harness.fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    await harness.voice(duration=3)
    assert harness.replies() == []
    await harness.voice(duration=4)
    assert harness.replies() == [texts.collecting(2, 7)]
    assert len(harness.fake.reactions(CHAT)) == 2


async def test_start_while_a_session_is_open_says_it_in_one_message(harness: Harness) -> None:
    await harness.voice(duration=3)
    await harness.voice(duration=4)
    sent_before = len([c for c in harness.fake.sent if c.method == "sendMessage"])
    await harness.text("/start")
    sent = [c for c in harness.fake.sent if c.method == "sendMessage"][sent_before:]
    # Its notes are still to be transcribed: /start says so in its one answer, and the old
    # message shows the progress, without its button.
    assert [c.text for c in sent] == [texts.start_after_previous(2)]
    old = next(m for m in harness.fake.messages(CHAT) if m.get("from", {}).get("is_bot"))
    assert old["text"] == texts.transcribing(2, 0)
    assert "reply_markup" not in old
    # An open session without notes is kept: nothing to announce.
    await harness.text("/start")
    assert harness.replies()[-1] == texts.START


async def test_edits_are_throttled_and_the_newest_text_wins(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    interval = 0.3 * TIMEOUT_SCALE
    collecting = CollectingStatus(bot, manager, edit_interval=interval)
    collecting.attach()
    session = await manager.create_session(CHAT)
    started = time.monotonic()
    for n in range(1, 7):
        session = await add_note(manager, session, message_id=n, duration=2.0)
        await collecting.note_stored(CHAT, n, session)
    stored = time.monotonic() - started
    await collecting.wait_idle()
    await collecting.stop()
    calls = [c for c in fake.sent if c.method in {"sendMessage", "editMessageText"}]
    assert (calls[-1].text or "").startswith("Recording: 6 notes, 0:12.")
    # At most one edit per interval while the notes came in, then the newest text once.
    assert len(calls) <= 2 + stored // interval, (len(calls), stored)
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(calls)]
    assert all(gap >= interval * 0.9 for gap in gaps), gaps


async def test_deleted_and_cancelled_sessions_say_so(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    collecting = CollectingStatus(bot, manager, edit_interval=0)
    collecting.attach()
    cancelled = await add_note(manager, await manager.create_session(CHAT), message_id=1)
    await collecting.note_stored(CHAT, 1, cancelled)
    await manager.cancel_session(cancelled.session_id)
    await collecting.wait_idle()
    deleted = await add_note(manager, await manager.create_session(CHAT), message_id=2)
    await collecting.note_stored(CHAT, 2, deleted)
    await manager.delete_session(deleted.session_id)
    await collecting.wait_idle()
    await collecting.stop()
    shown = [m["text"] for m in fake.messages(CHAT) if m.get("from", {}).get("is_bot")]
    assert shown == [texts.COLLECTING_CANCELLED, texts.COLLECTING_DELETED]


async def test_a_note_transcribed_while_it_is_acknowledged_shows_up(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    """Live transcription may finish a short note before its reaction is even sent: the
    message then shows its words all the same."""
    collecting = CollectingStatus(bot, manager, edit_interval=0)
    collecting.attach()
    session = await add_note(manager, await manager.create_session(CHAT), message_id=1)
    fake.hang("setMessageReaction", count=1)
    acknowledged = asyncio.create_task(collecting.note_stored(CHAT, 1, session))
    await fake.wait_called("setMessageReaction", timeout=10)
    name = manager.folder(session.session_id).write_transcript(1, Transcript(text="quick one"))
    await manager.update_transcription_status(
        session.session_id, 1, TranscriptionStatus.COMPLETED, name
    )
    fake.release()
    await acknowledged
    await collecting.wait_idle()
    await collecting.stop()
    [shown] = [m["text"] for m in fake.messages(CHAT) if m.get("from", {}).get("is_bot")]
    assert shown == texts.collecting(1, 2, (1, "quick one"))
