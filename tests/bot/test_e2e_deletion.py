"""End to end: what /forget, /forget all and /cancel promise, they do, and a file the bot
cannot delete never stops it. The real ``python -m bot`` (live transcription, the real
model) against the fake Bot API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import library_texts as lt
from sessions import EventBus, FileSessionManager, FileSessionStorage, SessionConfig
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import (
    CHAT,
    REFERENCES,
    USER,
    eventually,
    is_text,
    launch,
    metadata,
    send_voice,
)
from tests.bot.test_e2e_library import in_chat, index_rows_naming, session_dir, tap
from tests.bot.test_e2e_live import statuses, transcript_paragraphs
from tests.bot.test_library_handlers import transcribed_session
from tests.fake_telegram import FakeTelegram
from tests.undeletable import undeletable
from tests.wer import word_error_rate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def open_session_id(tmp_path: Path) -> str:
    [found] = [s["session_id"] for s in metadata(tmp_path) if s["state"] == "COLLECTING"]
    return found


def files_in(folder: Path) -> list[str]:
    """Every file under ``folder``, hidden ones included, as paths relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


async def find(fake: FakeTelegram, words: str) -> str:
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/find {words}")
    found = await fake.wait_for(in_chat(CHAT), since=since)
    return " ".join([found.text or "", *(data for _, data in found.buttons())])


async def forget(fake: FakeTelegram, session_id: str) -> str:
    """/forget ``session_id``, Yes: the text the question is edited to, with the session's
    label (as the question names it) in place of ``{label}``."""
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/forget {session_id}")
    question = await fake.wait_for(is_text(CHAT, "Forget the session "), since=since)
    assert question.text is not None
    label = question.text.removeprefix("Forget the session ").split(" (")[0]
    [(_, yes), _] = question.buttons()
    since = len(fake.sent)
    answer = await tap(fake, CHAT, USER, question, yes)
    assert answer["show_alert"] is False
    edited = await fake.wait_for(in_chat(CHAT, "editMessageText"), since=since)
    assert edited.message_id == question.message_id
    return (edited.text or "").replace(label, "{label}")


async def test_forget_and_cancel_of_the_open_session(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running)

    # /forget of the session still collecting: the next note opens a new one.
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    first = open_session_id(tmp_path)
    assert await forget(fake, first) == lt.forgotten("{label}")
    assert not session_dir(tmp_path, first).exists()
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    [opened] = metadata(tmp_path)  # a new session (its id may be the first's again)
    assert (opened["state"], len(opened["audio_entries"])) == ("COLLECTING", 1)
    second = opened["session_id"]
    assert not [t for t in fake.texts(CHAT) if "went wrong" in t]

    # Transcribed live; /undo takes the last note's words with it.
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 3, timeout=20)
    await eventually(lambda: statuses(tmp_path) == ("COLLECTING", ["COMPLETED"] * 2), 60)
    folder = session_dir(tmp_path, second)
    words = [f"transcripts/00{n}_audio.{kind}" for n in (1, 2) for kind in ("txt", "json")]
    assert set(words) <= set(files_in(folder))
    fake.text(CHAT, USER, "/undo")
    await fake.wait_for(is_text(CHAT, "Removed note 2 ("))  # and its ✍ goes: 2 left
    assert [f for f in files_in(folder) if "002_audio" in f] == []

    # Then /cancel: nothing of the notes' words is left anywhere.
    said = (folder / "transcripts" / "001_audio.txt").read_text()
    word = max(re.findall(r"[a-z]+", said.lower()), key=len)
    fake.text(CHAT, USER, "/cancel")
    await fake.wait_for(is_text(CHAT, f"Session {second} is cancelled: its note was deleted"))
    assert [f for f in files_in(folder) if "/" in f] == []  # no audio, transcript, segments
    assert word not in (folder / "metadata.json").read_text().lower()
    assert (await find(fake, word)).startswith("No note in this chat's transcripts matches")
    assert index_rows_naming(tmp_path, second) == []

    # /forget all while a session is open: the next note opens a new one, and is transcribed.
    send_voice(fake, "speech_03.ogg")
    await fake.wait_reactions(CHAT, 3, timeout=20)
    third = open_session_id(tmp_path)
    since = len(fake.sent)
    fake.text(CHAT, USER, "/forget all")
    question = await fake.wait_for(is_text(CHAT, "Forget"), since=since)
    [(_, yes), _] = question.buttons()
    await tap(fake, CHAT, USER, question, yes)
    await fake.wait_for(in_chat(CHAT, "editMessageText"), since=since)
    assert not session_dir(tmp_path, third).exists()
    assert metadata(tmp_path) == []
    send_voice(fake, "speech_04.ogg")
    await fake.wait_reactions(CHAT, 4, timeout=20)
    [opened] = metadata(tmp_path)
    assert (opened["state"], len(opened["audio_entries"])) == ("COLLECTING", 1)
    fourth = opened["session_id"]
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, f"Session id {fourth}"), 60)
    [paragraph] = transcript_paragraphs(transcript.text)
    assert word_error_rate(REFERENCES["speech_04.ogg"], paragraph) <= 0.3, paragraph
    assert not [t for t in fake.texts(CHAT) if "went wrong" in t]


async def test_a_folder_the_bot_cannot_delete_never_stops_it(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    base = tmp_path / "sessions"
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base), EventBus())
    stuck = await transcribed_session(manager, "a stubborn walrus")  # leaves a locked folder
    locked = await transcribed_session(manager, "an immovable kettle")  # cannot be moved at all
    left = base / ".trash" / "2026-01-01_00-00-00.0123abcd"  # a deletion cut off earlier
    (left / "output").mkdir(parents=True)
    (left / "output" / "summary.md").write_text("read-only, left by a command: processor")
    (session_dir(tmp_path, stuck) / "process" / "output" / "summary.md").write_text("done")
    with undeletable(tmp_path) as locks:
        locks.lock(left / "output")
        locks.lock(session_dir(tmp_path, stuck) / "process" / "output")
        locks.lock(session_dir(tmp_path, locked))

        # The bot starts, and answers, whatever the trash holds.
        proc = await launch(fake, tmp_path, running)
        assert (left / "output" / "summary.md").exists()
        assert [e for e in proc.events() if e["event"] == "trash_not_emptied"]
        # The index is made from the folders in the background: searched once it is.
        await eventually(lambda: "library_rebuilt" in [e["event"] for e in proc.events()])
        assert f"get:{stuck}" in await find(fake, "walrus")

        # Moved out of the sessions, but not emptied: forgotten (the rest is retried later).
        assert await forget(fake, stuck) == lt.forgotten("{label}")
        assert not session_dir(tmp_path, stuck).exists()
        assert (await find(fake, "walrus")).startswith("No note")
        assert stuck not in [s["session_id"] for s in metadata(tmp_path)]

        # Not deletable at all: the tap is answered, the chat told, the session kept whole.
        assert await forget(fake, locked) == lt.forget_failed("{label}")
        assert session_dir(tmp_path, locked).is_dir()
        assert f"get:{locked}" in await find(fake, "kettle")
        since = len(fake.sent)
        fake.text(CHAT, USER, "/status")
        await fake.wait_for(in_chat(CHAT), since=since)
