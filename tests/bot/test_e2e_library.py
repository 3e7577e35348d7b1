"""End to end: the session library in the chat (/history, /get, /find, /undo, /cancel,
/forget, the Done button), each chat kept to its own sessions, retention and the index
rebuilt, against the real ``python -m bot`` and the fake Bot API."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import library_texts as lt
from bot import texts
from library import library_path
from library.chat_settings_store import ChatSettingsFile, chat_settings_path
from sessions import ChatSettings, EventBus, FileSessionManager, FileSessionStorage, SessionConfig
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import (
    CHAT,
    USER,
    delivered,
    eventually,
    is_text,
    launch,
    metadata,
    send_voice,
)
from tests.bot.test_library_handlers import transcribed_session
from tests.fake_telegram import FakeTelegram, SentCall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

OTHER = 2002  # another allowed chat (and user)
STRANGER = 3003  # not in ALLOWED_USER_IDS


def in_chat(chat: int, method: str = "sendMessage") -> Any:
    def check(call: SentCall) -> bool:
        return call.chat_id == chat and call.method == method

    return check


def session_dir(tmp_path: Path, session_id: str) -> Path:
    return tmp_path / "sessions" / session_id


def index_rows_naming(tmp_path: Path, needle: str) -> list[str]:
    """Every text value in the library database's own tables that contains ``needle``
    (FTS5's internal tables hold binary segments and are left out)."""
    path = library_path(tmp_path / "sessions")
    found = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if table.endswith(("_data", "_idx", "_docsize", "_config")):
                continue
            for row in db.execute(f'SELECT * FROM "{table}"'):
                found += [f"{table}: {v}" for v in row if isinstance(v, str) and needle in v]
    return found


async def tap(
    fake: FakeTelegram, chat: int, user: int, call: SentCall, data: str
) -> dict[str, Any]:
    """Press the button with ``data`` under the bot's message ``call``; its answer."""
    assert call.message_id is not None
    query = fake.callback(chat, user, call.message_id, data)
    return await fake.wait_answered(query, timeout=30)


async def test_library_in_the_chat(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(
        fake, tmp_path, running, ALLOWED_USER_IDS=f"{USER},{OTHER}", AUDIO_RETENTION_DAYS="30"
    )
    commands = {c["command"] for c in fake.commands}
    assert {"history", "get", "find", "undo", "cancel", "forget"} <= commands

    # A note gets a Done button; a stranger's tap is refused, the owner's finishes the session.
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    ack = await fake.wait_for(is_text(CHAT, "Recording: 1 note"), timeout=20)
    [(label, done_data)] = ack.buttons()
    assert label == "Done"
    refused = await tap(fake, CHAT, STRANGER, ack, done_data)
    assert refused == {"text": "Access to this bot is closed.", "show_alert": True}
    assert metadata(tmp_path)[0]["state"] == "COLLECTING"
    answered = await tap(fake, CHAT, USER, ack, done_data)
    assert answered["show_alert"] is False
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    await eventually(lambda: delivered(tmp_path))
    [session] = metadata(tmp_path)
    sid = session["session_id"]
    await eventually(lambda: index_rows_naming(tmp_path, sid) != [])  # indexed
    assert transcript.text is not None
    word = max(re.findall(r"[a-z]+", transcript.text.split("\n\n", 1)[1].lower()), key=len)
    label = transcript.text.split("\n")[0].removeprefix("Transcript: ")  # the session's name

    # /history: one message, a button per session; the button sends the transcript again.
    fake.text(CHAT, USER, "/history")
    history = await fake.wait_for(is_text(CHAT, "Your sessions"))
    assert history.text is not None
    assert f"1. {label}\n   1 note, 0:03 · transcribed" in history.text
    [(_, get_data)] = history.buttons()
    since = len(fake.sent)
    await tap(fake, CHAT, USER, history, get_data)
    again = await fake.wait_for(is_text(CHAT, "Transcript: "), since=since)
    assert again.text == transcript.text

    # /get with a short form of the id.
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/get {sid[11:16]}")  # "HH-MM"
    again = await fake.wait_for(is_text(CHAT, "Transcript: "), since=since)
    assert again.text == transcript.text

    # /find: HTML with the word marked, a button per hit.
    since = len(fake.sent)  # the transcript is HTML too: only what comes after /find
    fake.text(CHAT, USER, f"/find {word}")
    found = await fake.wait_for(lambda c: c.chat_id == CHAT and c.parse_mode == "HTML", since=since)
    assert f"1. {label}, note 1:" in (found.text or "")
    assert re.search(rf"<b>{word}</b>", found.params["text"], re.IGNORECASE)
    assert [d for _, d in found.buttons()] == [f"get:{sid}"]

    # Another chat cannot see, get, find or forget it: answered as for an unknown id.
    fake.text(OTHER, OTHER, f"/get {sid}")
    assert (await fake.wait_for(in_chat(OTHER))).text == lt.unknown_session(sid)
    since = len(fake.sent)
    fake.text(OTHER, OTHER, "/get 2030-01-01_00-00-00")
    unknown = await fake.wait_for(in_chat(OTHER), since=since)
    assert unknown.text == lt.unknown_session("2030-01-01_00-00-00")
    since = len(fake.sent)
    fake.text(OTHER, OTHER, f"/forget {sid}")
    assert (await fake.wait_for(in_chat(OTHER), since=since)).text == lt.unknown_session(sid)
    since = len(fake.sent)
    fake.text(OTHER, OTHER, f"/find {word}")
    nothing = await fake.wait_for(in_chat(OTHER), since=since)
    assert nothing.text is not None
    assert nothing.text.startswith("No note in this chat's transcripts matches")
    since = len(fake.sent)
    fake.text(OTHER, OTHER, "/history")
    other_history = await fake.wait_for(in_chat(OTHER), since=since)
    assert other_history.text == lt.HISTORY_EMPTY
    # Buttons made up in the other chat: a quiet answer, nothing done.
    answer = await tap(fake, OTHER, OTHER, other_history, f"get:{sid}")
    assert answer == {"text": lt.unknown_session(sid), "show_alert": False}
    answer = await tap(fake, OTHER, OTHER, other_history, f"forget:{sid}:1")
    assert answer == {"text": texts.ALREADY_DONE, "show_alert": False}
    assert await tap(fake, OTHER, OTHER, other_history, f"done:{sid}") == {
        "text": lt.DONE_ALREADY,
        "show_alert": False,
    }
    assert not [c for c in fake.sent if c.chat_id == OTHER and "Transcript" in (c.text or "")]
    assert session_dir(tmp_path, sid).is_dir()

    # /status says what is kept, in words.
    fake.text(CHAT, USER, "/status")
    status = await fake.wait_for(is_text(CHAT, "Recordings are kept for 30 days"))
    assert "RETENTION" not in (status.text or "")

    # /undo takes the last note back, /cancel discards the open session.
    send_voice(fake, "speech_01.ogg")
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    open_id = next(s["session_id"] for s in metadata(tmp_path) if s["state"] == "COLLECTING")
    audio = session_dir(tmp_path, open_id) / "audio"
    fake.text(CHAT, USER, "/undo")
    removed = await fake.wait_for(is_text(CHAT, "Removed note 2 (0:06"))
    assert (removed.text or "").endswith("). The session now has 1 note, 0:03.")
    assert sorted(p.name for p in audio.iterdir()) == ["001_audio.ogg"]
    fake.text(CHAT, USER, "/cancel")
    await fake.wait_for(is_text(CHAT, f"Session {open_id} is cancelled: its note was deleted"))
    cancelled = next(s for s in metadata(tmp_path) if s["session_id"] == open_id)
    assert cancelled["state"] == "ERROR"
    assert [e["code"] for e in cancelled["errors"]] == ["cancelled"]
    assert not list(audio.glob("*.ogg"))
    fake.text(CHAT, USER, "/undo")
    await fake.wait_for(is_text(CHAT, lt.NOTHING_TO_UNDO))
    assert not [t for t in fake.texts(CHAT) if "could not be transcribed" in t]

    # /forget asks first; No keeps it, Yes deletes it from the disk and the index.
    fake.text(CHAT, USER, f"/forget {sid}")
    question = await fake.wait_for(is_text(CHAT, f"Forget the session {label}"))
    [(_, yes), (_, no)] = question.buttons()
    await tap(fake, CHAT, USER, question, no)
    await fake.wait_for(is_text(CHAT, lt.kept(label)))
    assert session_dir(tmp_path, sid).is_dir()
    fake.text(CHAT, USER, f"/forget {sid}")
    since = len(fake.sent)
    question = await fake.wait_for(is_text(CHAT, f"Forget the session {label}"), since=since - 1)
    await tap(fake, CHAT, USER, question, yes)
    await fake.wait_for(is_text(CHAT, lt.forgotten(label)))
    assert not session_dir(tmp_path, sid).exists()
    assert not [p for p in (tmp_path / "sessions").rglob("*") if sid in str(p)]
    assert index_rows_naming(tmp_path, sid) == []
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/find {word}")
    gone = await fake.wait_for(in_chat(CHAT), since=since)
    assert (gone.text or "").startswith("No note in this chat's transcripts matches")
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/get {sid}")
    assert (await fake.wait_for(in_chat(CHAT), since=since)).text == lt.unknown_session(sid)


async def aged_session(manager: FileSessionManager, text: str, *, age_days: float) -> str:
    """A transcribed session of CHAT saying ``text``, its times put ``age_days`` back in
    metadata.json (as if it had been made then)."""
    sid = await transcribed_session(manager, text)
    path = manager.get_session_path(sid) / "metadata.json"
    data = json.loads(path.read_text())
    moment = (datetime.now(UTC) - timedelta(days=age_days)).isoformat()
    for key in ("created_at", "updated_at", "finalized_at", "transcribed_at", "delivered_at"):
        data[key] = moment
    for item in data["audio_entries"]:
        item["received_at"] = moment
    path.write_text(json.dumps(data))
    return sid


async def test_retention_by_age_and_index_rebuilt(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    config = SessionConfig(base_dir=tmp_path / "sessions")
    manager = FileSessionManager(FileSessionStorage(config.base_dir), config, EventBus())
    ancient = await aged_session(manager, "an ancient walrus sang", age_days=400)
    aged = await aged_session(manager, "a purple giraffe danced", age_days=40)
    fresh = await aged_session(manager, "the orange kettle whistled", age_days=1)
    for n in range(5):  # enough for a second page of /history
        await aged_session(manager, f"filler number {n}", age_days=0.5)

    env = {"AUDIO_RETENTION_DAYS": "30", "SESSION_RETENTION_DAYS": "365"}
    proc = await launch(fake, tmp_path, running, **env)
    await eventually(lambda: not session_dir(tmp_path, ancient).exists())
    aged_audio = session_dir(tmp_path, aged) / "audio" / "001_audio.ogg"
    await eventually(lambda: not aged_audio.exists())
    assert (session_dir(tmp_path, aged) / "process" / "input.txt").is_file()  # text stays
    assert (session_dir(tmp_path, fresh) / "audio" / "001_audio.ogg").is_file()
    await eventually(
        lambda: len([e for e in proc.events() if e["event"] == "retention_deleted"]) == 2
    )

    async def find(words: str) -> str:
        since = len(fake.sent)
        fake.text(CHAT, USER, f"/find {words}")
        found = await fake.wait_for(in_chat(CHAT), since=since)
        return " ".join([found.text or "", *(data for _, data in found.buttons())])

    assert f"get:{fresh}" in await find("kettle")
    assert f"get:{aged}" in await find("giraffe")
    assert (await find("walrus")).startswith("No note")
    fake.text(CHAT, USER, "/status")
    await fake.wait_for(is_text(CHAT, "Sessions are deleted entirely after 365 days."))

    # /history pages: 5 sessions and "Older", then the 2 oldest left and "Newer".
    fake.text(CHAT, USER, "/history")
    first = await fake.wait_for(is_text(CHAT, "Your sessions"))
    buttons = first.buttons()
    assert [d for _, d in buttons][-1] == "hist:5"
    assert len(buttons) == 6
    since = len(fake.sent)
    await tap(fake, CHAT, USER, first, "hist:5")
    second = await fake.wait_for(in_chat(CHAT, "editMessageText"), since=since)
    assert second.message_id == first.message_id
    assert second.text is not None
    assert "\n6. " in second.text
    assert "\n7. " in second.text
    assert "“a purple giraffe danced”" in second.text
    assert [(t, d) for t, d in second.buttons()][-1] == ("« Newer", "hist:0")
    assert [d for _, d in second.buttons()][:2] == [f"get:{fresh}", f"get:{aged}"]
    since = len(fake.sent)
    await tap(fake, CHAT, USER, second, "hist:0")
    back = await fake.wait_for(in_chat(CHAT, "editMessageText"), since=since)
    assert back.text == first.text

    # The index file deleted: the next start rebuilds it from the session folders.
    await proc.terminate()
    index = library_path(tmp_path / "sessions")
    for path in index.parent.iterdir():
        path.unlink()
    proc = await launch(fake, tmp_path, running, **env)
    await eventually(lambda: "library_rebuilt" in [e["event"] for e in proc.events()])
    assert index.is_file()
    assert f"get:{fresh}" in await find("kettle")
    assert f"get:{aged}" in await find("giraffe")


def hold_on_a_pipe(manager: FileSessionManager, session_id: str) -> Path:
    """Make the session's transcript a named pipe: whoever reads it (a rebuild of the
    index) waits until the test writes into it. Returns the pipe."""
    [transcript] = (manager.get_session_path(session_id) / "transcripts").glob("*.txt")
    transcript.unlink()
    os.mkfifo(transcript, 0o600)
    return transcript


async def test_a_corrupt_index_is_rebuilt_while_the_bot_answers_and_settings_survive(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    # What an earlier run left: sessions, a chat's vocabulary, and an index file that is
    # now damaged (a disk error, say). One transcript is a pipe: the rebuild waits on it,
    # so the test sees the bot while the rebuild is under way, however fast the machine.
    config = SessionConfig(base_dir=tmp_path / "sessions")
    manager = FileSessionManager(FileSessionStorage(config.base_dir), config, EventBus())
    await transcribed_session(manager, "the walrus harbour plan")
    held = hold_on_a_pipe(manager, await transcribed_session(manager, "placeholder"))
    index = library_path(config.base_dir)
    index.parent.mkdir(mode=0o700)
    settings = ChatSettingsFile(chat_settings_path(index.parent))
    settings.open()
    vocabulary = ChatSettings(vocabulary=("Kubernetes", "Zoë Ortega"))
    settings.save(CHAT, vocabulary.model_dump_json(), "earlier")
    settings.close()
    index.write_bytes(os.urandom(64 * 1024))  # not a database any more

    proc = await launch(fake, tmp_path, running)  # started: it did not wait for the rebuild

    async def ask(text: str) -> str:
        since = len(fake.sent)
        fake.text(CHAT, USER, text)
        found = await fake.wait_for(in_chat(CHAT), since=since)
        return " ".join([found.text or "", *(data for _, data in found.buttons())])

    assert await ask("/start") == texts.START
    assert await ask("/find walrus") == lt.SEARCH_REBUILDING
    assert "Kubernetes, Zoë Ortega" in await ask("/vocab")
    assert "Added: Grafana." in await ask("/vocab add Grafana")
    assert "library_rebuilt" not in [e["event"] for e in proc.events()]

    # The pipe gives its words: the rebuild ends, and search is back.
    writer: list[int] = []

    def rebuild_reading_the_pipe() -> bool:
        try:  # opens only once the rebuild has it open to read
            writer.append(os.open(held, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return False
        return True

    await eventually(rebuild_reading_the_pipe)
    os.write(writer[0], b"the pipe's own words")
    os.close(writer[0])
    await eventually(lambda: "library_rebuilt" in [e["event"] for e in proc.events()])
    [rebuilt] = [e for e in proc.events() if e["event"] == "library_rebuilt"]
    assert rebuilt["reason"].startswith("corrupt")
    assert "“the walrus harbour plan”, note 1:" in await ask("/find walrus")
    reply = await ask("/vocab")
    assert "Kubernetes, Zoë Ortega, Grafana" in reply
