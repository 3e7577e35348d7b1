"""End to end: a chat's /vocab and /lang, stored in their own SQLite file, reaching the
model, shown by /status and gone after /forget all, against the real ``python -m bot`` and
the fake Bot API (tiny.en, then a multilingual model on German speech)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot import chat_settings_texts as ct
from library import library_path
from library.chat_settings_store import chat_settings_path
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, delivered, eventually, is_text, launch, metadata
from tests.bot.test_e2e_library import tap
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram, SentCall
from tests.multilingual_model import ENGLISH_WORDS, GERMAN_WORDS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def stored_settings(tmp_path: Path) -> dict[int, dict[str, Any]]:
    """The chat_settings rows of the chats' settings file, as the bot left them."""
    path = chat_settings_path(library_path(tmp_path / "sessions").parent)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT chat_id, settings FROM chat_settings").fetchall()
    return {int(chat): json.loads(text) for chat, text in rows}


async def say(fake: FakeTelegram, text: str, expect: str, timeout: float = 30) -> SentCall:  # noqa: ASYNC109
    """Send ``text`` in the chat; the bot's first reply after it that contains ``expect``."""
    since = len(fake.sent)
    fake.text(CHAT, USER, text)
    return await fake.wait_for(is_text(CHAT, expect), timeout=timeout, since=since)


async def transcript_of(fake: FakeTelegram, tmp_path: Path, note: str) -> str:
    """Send ``note`` as a voice note, then /done; the transcript's text."""
    since = len(fake.sent)
    fake.voice(CHAT, USER, file_id=fake.add_file((FIXTURES / note).read_bytes()), duration=4)
    await fake.wait_for(lambda c: c.method == "setMessageReaction", timeout=30, since=since)
    fake.text(CHAT, USER, "/done")
    found = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=120, since=since)
    await eventually(lambda: delivered(tmp_path))
    assert found.text is not None
    return found.text


async def test_vocabulary_reaches_tiny_en_and_forget_all_removes_everything(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running)
    assert "vocab" in {c["command"] for c in fake.commands}

    # The bundled model knows English only: /lang says so in one line and stores nothing.
    reply = await say(fake, "/lang de", ct.ENGLISH_ONLY)
    assert reply.buttons() == []
    assert stored_settings(tmp_path) == {}

    # Untold, tiny.en mishears the name.
    untold = await transcript_of(fake, tmp_path, "vocabulary_01.ogg")
    assert "kubernetes" not in untold.lower()

    await say(fake, "/vocab", "no vocabulary yet")
    await say(fake, "/vocab add Kubernetes, Zoë Ortega", "Added: Kubernetes, Zoë Ortega.")
    assert stored_settings(tmp_path) == {
        CHAT: {
            "language": None,
            "vocabulary": ["Kubernetes", "Zoë Ortega"],
            "style": None,
            "style_instruction": None,
            "speakers": False,
        }
    }
    refused = await say(fake, "/vocab add " + "x" * 80, "Nothing was added")
    assert refused.text is not None
    assert "at most 60 characters" in refused.text
    shown = await say(fake, "/status", "Vocabulary:")
    assert shown.text is not None
    assert "Vocabulary: Kubernetes, Zoë Ortega." in shown.text
    assert "Language: English (the speech model knows English only)." in shown.text

    # Told, it writes the name right.
    told = await transcript_of(fake, tmp_path, "vocabulary_01.ogg")
    assert "Kubernetes" in told

    await say(fake, "/vocab remove zoë ortega", "Removed: Zoë Ortega.")
    assert stored_settings(tmp_path)[CHAT]["vocabulary"] == ["Kubernetes"]

    # /forget all: a question first; "No" keeps everything, "Yes" deletes everything.
    question = await say(fake, "/forget all", "Forget everything of this chat")
    assert question.text is not None
    assert "all 2 sessions and its language, vocabulary and note style" in question.text
    [(_, yes), (_, no)] = question.buttons()
    await tap(fake, CHAT, USER, question, no)
    await fake.wait_for(is_text(CHAT, ct.KEPT_ALL))
    assert len(metadata(tmp_path)) == 2
    question = await say(fake, "/forget all", "Forget everything of this chat")
    [(_, yes), _] = question.buttons()  # the new question's own Yes
    since = len(fake.sent)
    await tap(fake, CHAT, USER, question, yes)
    await fake.wait_for(is_text(CHAT, "Forgotten: 2 sessions"), since=since)
    assert metadata(tmp_path) == []
    assert stored_settings(tmp_path) == {}
    await say(fake, "/vocab", "no vocabulary yet")
    await say(fake, "/forget all", "nothing to forget")


async def test_the_chats_language_overrides_the_bots_on_a_multilingual_model(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess], multilingual_model: Path
) -> None:
    # The bot's own default is English: only the chat's choice makes the note German.
    await launch(
        fake, tmp_path, running, WHISPER_MODEL=str(multilingual_model), WHISPER_LANGUAGE="en"
    )
    menu = await say(fake, "/lang", "Language of this chat's notes: the bot's default (English")
    labels = dict(menu.buttons())
    assert {"German", "English", "Recognise each note", "Bot default"} <= set(labels)

    await say(fake, "/lang klingon", 'I don\'t know the language "klingon"')
    since = len(fake.sent)
    await tap(fake, CHAT, USER, menu, labels["German"])
    await fake.wait_for(is_text(CHAT, "Language of this chat's notes: German (de)."), since=since)
    assert stored_settings(tmp_path) == {
        CHAT: {
            "language": "de",
            "vocabulary": [],
            "style": None,
            "style_instruction": None,
            "speakers": False,
        }
    }

    text = (await transcript_of(fake, tmp_path, "german_01.ogg")).lower()
    assert GERMAN_WORDS in text
    assert ENGLISH_WORDS not in text

    await say(fake, "/lang default", "the bot's default (English (en))")
    assert stored_settings(tmp_path) == {}
