"""The notifier over real HTTP (fake Bot API): progress, delivery, resume, long transcripts."""

from __future__ import annotations

import itertools

from aiogram import Bot

from bot.services.collecting import CollectingStatus
from bot.services.notifier import Notifier
from bot.texts import FINISHED, transcribing
from sessions import FileSessionManager, Session, TranscriptionStatus
from tests.conftest import add_note
from tests.fake_telegram import FakeTelegram
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionSettings, transcribe_session

CHAT = 5
SETTINGS = TranscriptionSettings(transcription_retry_backoff_seconds=0.01)


async def finished(manager: FileSessionManager, *scripts: str) -> Session:
    session = await manager.create_session(chat_id=CHAT)
    for n, script in enumerate(scripts):
        await add_note(manager, session, message_id=n + 1, data=script.encode())
    await manager.finalize_session(session.session_id)
    return await transcribe_session(manager, ScriptedTranscriber(), session.session_id, SETTINGS)


async def test_progress_is_one_message_edited_at_most_every_interval(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    notifier = Notifier(bot, manager, edit_interval=0.5)
    notifier.attach()
    session = await finished(manager, *(f"text:note {n}" for n in range(6)))
    await notifier.wait_idle()

    sends = [c for c in fake.sent if c.method == "sendMessage"]
    assert sends[0].text == transcribing(6, 0)
    status_id = sends[0].message_id
    edits = [c for c in fake.sent if c.method == "editMessageText"]
    assert all(e.message_id == status_id for e in edits)
    assert edits[-1].text == FINISHED
    progress = edits[:-1]
    assert len(progress) < 6  # throttled: six entries finished within one interval
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(edits)]
    assert all(gap >= 0.45 for gap in gaps[:-1])  # the final edit may come at once
    transcript = [c for c in sends if c.text and c.text.startswith("Transcript: ")]
    assert len(transcript) == 1
    assert transcript[0].parse_mode == "HTML"
    assert (await manager.require_session(session.session_id)).delivered_at is not None
    # "typing" while the notes were transcribed: before the transcript, not once per note.
    typing = [c for c in fake.sent if c.method == "sendChatAction"]
    assert typing
    assert all(c.chat_id == CHAT and c.params["action"] == "typing" for c in typing)
    assert len(typing) < 6
    assert typing[0].timestamp <= transcript[0].timestamp


async def test_progress_counts_notes_transcribed_before_done(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    # Live transcription finishes notes while the session is open: /done says so at once.
    notifier = Notifier(bot, manager)
    notifier.attach()
    session = await manager.create_session(chat_id=CHAT)
    for n in range(3):
        await add_note(manager, session, message_id=n + 1, data=f"text:note {n}".encode())
    for sequence in (1, 2):
        await manager.update_transcription_status(
            session.session_id, sequence, TranscriptionStatus.COMPLETED, f"{sequence:03d}.txt"
        )
    await manager.finalize_session(session.session_id)
    await notifier.wait_idle()

    [status] = [c for c in fake.sent if c.method == "sendMessage"]
    assert status.text == "Transcribing: 2 of 3 notes done..."
    [typing] = [c for c in fake.sent if c.method == "sendChatAction"]  # the last note runs
    assert typing.params["action"] == "typing"


async def test_progress_shows_in_the_sessions_own_message_and_nothing_else_is_sent(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    """One /done, one flow: the collecting message shows what is left, then that the
    transcript is below; the chat gets no progress message of its own."""
    collecting = CollectingStatus(bot, manager, edit_interval=0)
    collecting.attach()
    notifier = Notifier(bot, manager, collecting=collecting)
    notifier.attach()
    session = await manager.create_session(chat_id=CHAT)
    for n in (1, 2):
        session = await add_note(manager, session, message_id=n, data=f"text:note {n}".encode())
        await collecting.note_stored(CHAT, n, session)
    await manager.update_transcription_status(  # transcribed live, before /done
        session.session_id, 1, TranscriptionStatus.COMPLETED, "001.txt"
    )
    await manager.finalize_session(session.session_id)
    await notifier.wait_idle()
    await collecting.wait_idle()
    [message] = [c for c in fake.sent if c.method == "sendMessage"]  # the collecting one
    [shown] = [m for m in fake.messages(CHAT) if m["message_id"] == message.message_id]
    assert (shown["text"], "reply_markup" in shown) == (transcribing(2, 1), False)

    await transcribe_session(manager, ScriptedTranscriber(), session.session_id, SETTINGS)
    await notifier.wait_idle()
    sends = [c for c in fake.sent if c.method == "sendMessage"]
    assert len(sends) == 2  # the collecting message, then the transcript: nothing between
    assert (sends[1].text or "").startswith("Transcript: ")
    [shown] = [m for m in fake.messages(CHAT) if m["message_id"] == message.message_id]
    assert shown["text"] == FINISHED
    edits = [c for c in fake.sent if c.method == "editMessageText"]
    assert edits[-1].timestamp <= sends[1].timestamp  # settled before the transcript went
    await collecting.stop()


async def test_long_transcript_is_split_and_sent_as_a_file(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    notifier = Notifier(bot, manager)
    notifier.attach()
    sentence = "This is a fairly ordinary sentence about the weekly plan. "
    session = await finished(manager, f"text:{sentence * 60}", f"text:{sentence * 60}", "corrupt")
    await notifier.wait_idle()

    sent = [c for c in fake.sent if c.method == "sendMessage"]
    texts = [c.text or "" for c in sent]
    body = [c for c in sent if c.parse_mode == "HTML"]
    assert len(body) >= 2
    assert all(len(t) <= 4096 for t in texts)
    assert body[0].text
    assert body[0].text.startswith("Transcript: ")
    # Split at note boundaries: each message starts with a note's heading (after the header).
    assert all((c.text or "").startswith("Note ") for c in body[1:])
    assert all(sum(t.count(f"Note {n} ·") for t in texts) == 1 for n in (1, 2, 3))
    [document] = [c for c in fake.sent if c.method == "sendDocument"]
    assert document.document_name == f"transcript_{session.session_id}.txt"
    plain = (document.document_bytes or b"").decode()
    assert plain.startswith("Transcript: ")
    assert "3 notes" in plain.splitlines()[1]
    assert plain.count(sentence.strip()) == 120
    assert document.caption == "The whole transcript (3 notes) as a text file."
    assert any("Note 3 ·" in t and "(not transcribed: the file is damaged" in t for t in texts)


async def test_resume_delivers_what_finished_while_down(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await finished(manager, "text:delivered after a restart")  # nobody listening
    assert session.delivered_at is None
    notifier = Notifier(bot, manager)
    notifier.attach()
    await notifier.resume()
    await notifier.wait_idle()
    assert any("delivered after a restart" in t for t in fake.texts(CHAT))
    assert (await manager.require_session(session.session_id)).delivered_at is not None
    sent_before = len(fake.sent)
    await notifier.resume()  # delivered once only
    await notifier.wait_idle()
    assert len(fake.sent) == sent_before


async def test_empty_session_is_closed_quietly(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    notifier = Notifier(bot, manager)
    notifier.attach()
    session = await finished(manager)
    await notifier.wait_idle()
    assert fake.sent == []
    assert (await manager.require_session(session.session_id)).delivered_at is not None


async def test_all_failed_session_says_so(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    notifier = Notifier(bot, manager)
    notifier.attach()
    await finished(manager, "corrupt")
    await notifier.wait_idle()
    assert fake.texts(CHAT)[-1].endswith(
        "could not be transcribed: no voice note could be transcribed."
    )
