"""End to end: a group upgraded to a supergroup (a new chat id), against the real
``python -m bot`` and the fake Bot API. Whichever sign comes first (Telegram's service
messages, or a 400 with ``migrate_to_chat_id`` to a send), the transcript reaches the new
chat (the open session is finished and delivered there), and /history, /forget and /lang
in the new chat see what the group had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import USER, eventually, is_text, launch, metadata, send_voice
from tests.bot.test_e2e_library import session_dir, tap
from tests.fake_telegram import FakeTelegram, SentCall
from tests.multilingual_model import ENGLISH_WORDS, GERMAN_WORDS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GROUP, SUPERGROUP = -5001, -1005001  # upgraded with Telegram's service messages
QUIET_GROUP, QUIET_SUPERGROUP = -5002, -1005002  # the bot learns of it from a refused send


async def say(fake: FakeTelegram, chat: int, text: str, expect: str) -> SentCall:
    """``text`` from the user in group ``chat``; the bot's first reply there with ``expect``."""
    since = len(fake.sent)
    fake.text(chat, USER, text, chat_type="supergroup" if chat < -1_000_000 else "group")
    return await fake.wait_for(is_text(chat, expect), timeout=60, since=since)


def session_of(tmp_path: Path, session_id: str) -> dict[str, Any]:
    return next(s for s in metadata(tmp_path) if s["session_id"] == session_id)


async def test_a_group_upgraded_to_a_supergroup_keeps_its_sessions_and_settings(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess], multilingual_model: Path
) -> None:
    await launch(
        fake, tmp_path, running, WHISPER_MODEL=str(multilingual_model), WHISPER_LANGUAGE="en"
    )

    # -- the service messages come first -------------------------------------------------
    await say(fake, GROUP, "/lang de", "German (de)")
    send_voice(fake, "german_01.ogg", chat=GROUP)
    await fake.wait_reactions(GROUP, 1, timeout=30)
    [open_id] = [s["session_id"] for s in metadata(tmp_path)]
    fake.migrate_chat(GROUP, SUPERGROUP, user_id=USER)

    # The session the group had open is finished, and its transcript reaches the supergroup.
    first = await fake.wait_for(is_text(SUPERGROUP, f"Session id {open_id}"), 180)
    assert GERMAN_WORDS in (first.text or "").lower()
    assert session_of(tmp_path, open_id)["chat_id"] == SUPERGROUP
    assert not [t for t in fake.texts(GROUP) if "Transcript" in t]

    # A note in the supergroup opens a session there, in the language set in the group.
    send_voice(fake, "german_01.ogg", chat=SUPERGROUP)
    await fake.wait_reactions(SUPERGROUP, 1, timeout=30)
    [new_id] = [s["session_id"] for s in metadata(tmp_path) if s["session_id"] != open_id]
    fake.text(SUPERGROUP, USER, "/done", chat_type="supergroup")
    second = await fake.wait_for(is_text(SUPERGROUP, f"Session id {new_id}"), 180)
    text = (second.text or "").lower()
    assert GERMAN_WORDS in text
    assert ENGLISH_WORDS not in text

    # /lang, /history and /forget in the supergroup see what the group had.
    await say(fake, SUPERGROUP, "/lang", "Language of this chat's notes: German (de)")
    history = await say(fake, SUPERGROUP, "/history", "This chat's sessions")
    assert {f"get:{open_id}", f"get:{new_id}"} <= {data for _, data in history.buttons()}
    question = await say(fake, SUPERGROUP, f"/forget {open_id}", "Forget the session ")
    [(_, yes), _] = question.buttons()
    since = len(fake.sent)
    await tap(fake, SUPERGROUP, USER, question, yes)
    await fake.wait_for(is_text(SUPERGROUP, "is forgotten: nothing of it is kept"), since=since)
    assert not session_dir(tmp_path, open_id).exists()

    # -- no service message: the bot learns of it when Telegram refuses a send ------------
    send_voice(fake, "speech_01.ogg", chat=QUIET_GROUP)
    await fake.wait_reactions(QUIET_GROUP, 1, timeout=30)
    [quiet_id] = [s["session_id"] for s in metadata(tmp_path) if s["chat_id"] == QUIET_GROUP]
    await say(fake, QUIET_GROUP, "/lang en", "English (en)")
    fake.text(QUIET_GROUP, USER, "/done", chat_type="group")
    fake.migrate_chat(QUIET_GROUP, QUIET_SUPERGROUP)  # before the bot answers the /done
    transcript = await fake.wait_for(is_text(QUIET_SUPERGROUP, "Transcript: "), timeout=180)
    assert quiet_id in (transcript.text or "")
    await eventually(lambda: session_of(tmp_path, quiet_id)["delivered_at"] is not None)
    quiet = session_of(tmp_path, quiet_id)
    assert quiet["chat_id"] == QUIET_SUPERGROUP
    assert quiet["delivery"]["refused"] == {}  # nothing taken for a refusal
    history = await say(fake, QUIET_SUPERGROUP, "/history", "This chat's sessions")
    assert f"get:{quiet_id}" in {data for _, data in history.buttons()}
    await say(fake, QUIET_SUPERGROUP, "/lang", "Language of this chat's notes: English (en)")
