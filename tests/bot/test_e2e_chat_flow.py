"""End to end: taps that cannot hurt or alarm, /undo and /cancel that say what they did,
and words meant for the bot's owner kept from its users. The real ``python -m bot`` (the
bundled English-only tiny.en, live transcription) against the fake Bot API; one bot for
the whole scenario (each start costs seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import chat_settings_texts as ct
from bot import library_texts as lt
from bot import texts
from bot.session_labels import snippet
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, launch, metadata, send_voice
from tests.bot.test_e2e_chat_settings import say
from tests.bot.test_e2e_library import session_dir, tap
from tests.bot.test_e2e_live import statuses
from tests.fake_telegram import FakeTelegram, SentCall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GROUP = -100777
STRANGER = 555


def shown(fake: FakeTelegram, message: SentCall) -> dict[str, object]:
    """The bot's message as the chat shows it now (after edits)."""
    [found] = [m for m in fake.messages(CHAT) if m["message_id"] == message.message_id]
    return found


async def test_taps_undo_cancel_and_words_for_users(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running, ALLOWED_USER_IDS=str(USER))

    # -- words meant for the owner -------------------------------------------------------
    # An English-only model: /lang is not in the menu, and any form of it is one line.
    assert "lang" not in {c["command"] for c in fake.commands}
    for typed in ("/lang", "/lang de", "/lang list"):
        reply = await say(fake, typed, "English")
        assert (reply.text, reply.buttons()) == (ct.ENGLISH_ONLY, [])
    status = await say(fake, "/status", "No session is open")
    assert "After transcription" not in (status.text or "")  # no processor: nothing said
    help_ = await say(fake, "/help", "/done")
    assert "tap Done under the Recording message" in (help_.text or "")
    # A stranger in a group: chatting is none of the bot's business; a command gets one
    # line, with nothing about the .env or a restart.
    fake.text(GROUP, STRANGER, "who is this bot?", chat_type="group")
    fake.text(GROUP, STRANGER, "/start", chat_type="group")
    refusal = await fake.wait_for(lambda c: c.chat_id == GROUP, timeout=30)
    assert refusal.text == texts.ACCESS_CLOSED_GROUP
    await eventually(lambda: count(proc, "access_refused_quietly") == 1)
    assert fake.texts(GROUP) == [texts.ACCESS_CLOSED_GROUP]

    # -- /undo names the note it took back, and takes back its ✍ --------------------------
    send_voice(fake, "speech_01.ogg")
    send_voice(fake, "speech_02.ogg")
    # By message id: the two reactions are sent side by side, in either order.
    first, second = sorted(await fake.wait_reactions(CHAT, 2, timeout=20))
    await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["COMPLETED"] * 2), 60)
    [session] = metadata(tmp_path)
    sid = session["session_id"]
    said = (session_dir(tmp_path, sid) / "transcripts" / "002_audio.txt").read_text()
    undone = await say(fake, "/undo", "Removed note 2")
    words = snippet(said, lt.UNDONE_SNIPPET)
    assert words.startswith("The weather")
    assert undone.text == f"Removed note 2 (0:06, “{words}”). The session now has 1 note, 0:03."
    await eventually(lambda: fake.reactions(CHAT).get(second) == [])  # its ✍ taken back
    assert fake.reactions(CHAT)[first] == ["\u270d"]

    # -- /cancel of more than one note asks first; an answer takes the buttons ------------
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    question = await say(fake, "/cancel", "Cancel this session?")
    total = sum(e["duration_seconds"] for e in metadata(tmp_path)[0]["audio_entries"])
    assert question.text == texts.cancel_question(2, total)
    [(yes_label, yes), (no_label, no)] = question.buttons()
    assert (yes_label, no_label) == ("Yes, cancel it", "No, keep it")
    assert await tap(fake, CHAT, USER, question, no) == {"text": None, "show_alert": False}
    await eventually(lambda: shown(fake, question)["text"] == texts.CANCEL_KEPT)
    assert "reply_markup" not in shown(fake, question)
    # A later tap (a stale client, a second tap) does nothing, and says so quietly.
    assert await tap(fake, CHAT, USER, question, yes) == {
        "text": texts.ALREADY_DONE,
        "show_alert": False,
    }
    assert statuses(tmp_path)[0] == "COLLECTING"
    assert shown(fake, question)["text"] == texts.CANCEL_KEPT
    question = await say(fake, "/cancel", "Cancel this session?")
    [(_, yes), _] = question.buttons()
    await tap(fake, CHAT, USER, question, yes)
    await eventually(lambda: shown(fake, question)["text"] == lt.cancelled(sid, 2))
    assert "reply_markup" not in shown(fake, question)
    [cancelled] = metadata(tmp_path)
    assert [e["code"] for e in cancelled["errors"]] == ["cancelled"]

    # -- a second tap on "Yes, delete everything" cannot undo the first's answer ----------
    question = await say(fake, "/forget all", "Forget everything of this chat")
    [(label, yes), _] = question.buttons()
    assert label == "Yes, delete everything"
    since = len(fake.sent)
    taps = [fake.callback(CHAT, USER, question.message_id or 0, yes) for _ in range(2)]
    answers = [await fake.wait_answered(t, timeout=30) for t in taps]
    assert answers == [
        {"text": None, "show_alert": False},
        {"text": texts.ALREADY_DONE, "show_alert": False},  # a toast, no alert
    ]
    edits = [c for c in fake.sent[since:] if c.message_id == question.message_id]
    assert [c.method for c in edits] == ["editMessageText"]  # answered once
    assert (edits[0].text or "").startswith("Forgotten: 1 session")
    assert shown(fake, question)["text"] == edits[0].text
    assert "reply_markup" not in shown(fake, question)
    assert metadata(tmp_path) == []


def count(proc: BotProcess, event: str) -> int:
    return [e.get("event") for e in proc.events()].count(event)
