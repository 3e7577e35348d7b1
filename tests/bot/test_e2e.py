"""End to end: the real bot process, the real model, real speech, over real HTTP.

The fake Bot API server (tests/fake_telegram/) plays Telegram; the bot runs as
``python -m bot`` with TELEGRAM_API_URL pointing at it.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import texts
from bot.services.collecting import STORED_REACTION
from tests.bot.bot_process import BotProcess
from tests.conftest import FIXTURES, TIMEOUT_SCALE
from tests.fake_telegram import FakeTelegram, SentCall
from tests.wer import word_error_rate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHAT = 1001
USER = 1001
REFERENCES: dict[str, str] = json.loads((FIXTURES / "references.json").read_text())
ASK_DONE = "Send more, or tap Done for the transcript."
DURATIONS = {"speech_01.ogg": 3, "speech_02.ogg": 6, "speech_03.ogg": 11, "speech_04.ogg": 15}


async def launch(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess], **env: str
) -> BotProcess:
    proc = BotProcess(fake.base_url, fake.token, tmp_path, **env)
    running.append(proc)
    await proc.start()
    await proc.wait_started()
    return proc


async def one_note_transcribing(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess], **env: str
) -> BotProcess:
    """A bot with one note stored and /done sent: the session is finalized."""
    proc = await launch(fake, tmp_path, running, **env)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    fake.text(CHAT, USER, "/done")
    await eventually(lambda: metadata(tmp_path)[0]["state"] != "COLLECTING", timeout=20)
    return proc


def send_voice(fake: FakeTelegram, name: str, *, chat: int = CHAT, user: int = USER) -> int:
    file_id = fake.add_file((FIXTURES / name).read_bytes())
    return fake.voice(chat, user, file_id=file_id, duration=DURATIONS.get(name, 2))


async def eventually(check: Any, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Wait (bounded, scaled by TIMEOUT_SCALE) until ``check()`` is true."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout * TIMEOUT_SCALE} s")
        await asyncio.sleep(0.05)


def delivered(tmp_path: Path) -> bool:
    found = metadata(tmp_path)
    return bool(found) and all(s["delivered_at"] is not None for s in found)


def logged(proc: BotProcess, event: str) -> bool:
    return any(e.get("event") == event for e in proc.events())


def metadata(tmp_path: Path) -> list[dict[str, Any]]:
    found = sorted((tmp_path / "sessions").glob("*/metadata.json"))
    return [json.loads(p.read_text()) for p in found]


def is_text(chat: int, fragment: str) -> Any:
    def check(call: SentCall) -> bool:
        return call.chat_id == chat and call.text is not None and fragment in call.text

    return check


async def test_start_notes_done_transcript(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, TIMEZONE="Asia/Kolkata")
    # The bundled tiny.en knows English only: no /lang in the menu.
    assert [c["command"] for c in fake.commands] == [c for c, _ in texts.COMMANDS if c != "lang"]

    fake.text(CHAT, USER, "/start")
    await fake.wait_for(is_text(CHAT, "New session started"))
    names = ["speech_01.ogg", "speech_02.ogg", "speech_03.ogg"]
    for name in names:
        send_voice(fake, name)
    # Fewer messages: a reaction on each stored note, no reply; one collecting message for
    # the session, sent with the first note and edited as the others arrive.
    notes = await fake.wait_reactions(CHAT, 3, timeout=20)
    assert [fake.reactions(CHAT)[m] for m in notes] == [[STORED_REACTION]] * 3
    shown = await fake.wait_for(is_text(CHAT, "Recording: 3 notes, 0:20."), timeout=20)
    sent = [c for c in fake.sent if c.chat_id == CHAT and c.method == "sendMessage"]
    assert [c.text for c in sent][:1] == [texts.START]  # then the one collecting message
    assert len(sent) == 2
    assert (sent[1].text or "").startswith("Recording: ")
    assert (shown.text or "").endswith(ASK_DONE)
    assert shown.message_id == sent[1].message_id
    assert shown.buttons()[0][0] == "Done"
    since = len(fake.sent)
    fake.text(CHAT, USER, "/done")

    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert transcript.text is not None
    # One /done, one new message: the session's own message shows what is left (edited in
    # place), then that the transcript is below; no progress message of its own, and no
    # words that repeat the transcript's header.
    closed = await fake.wait_for(
        lambda c: c.message_id == shown.message_id and c.text == texts.FINISHED, since=since
    )
    assert closed.buttons() == []  # nothing left to tap
    assert closed.timestamp <= transcript.timestamp
    # HTML: the header in bold, every piece of text escaped (the fake parses it like Telegram).
    assert transcript.parse_mode == "HTML"
    raw = transcript.params["text"]
    assert raw.startswith("<b>Transcript: ")
    assert "\n\n<b>Note 1 · " in raw
    header, *blocks = transcript.text.split("\n\n")
    assert len(blocks) == 3
    said = []
    for n, (block, name) in enumerate(zip(blocks, names, strict=True), start=1):
        heading, text = block.split("\n", 1)
        assert heading.startswith(f"Note {n} · ")
        assert word_error_rate(REFERENCES[name], text) <= 0.3, text
        said.append(text)
    await eventually(lambda: delivered(tmp_path))
    after_done = [c for c in fake.sent[since:] if c.method == "sendMessage"]
    assert after_done == [transcript]
    assert not [t for t in fake.texts(CHAT) if t.startswith(("Done: ", "Finished: 3"))]
    [stored] = metadata(tmp_path)
    kolkata = ZoneInfo("Asia/Kolkata")
    created = datetime.fromisoformat(stored["created_at"]).astimezone(kolkata)
    title, counts, sid_line = header.split("\n")  # the session named by its local start
    assert title.startswith(
        f"Transcript: {created:%a} {created.day} {created:%b}, {created:%H:%M} · “"
    )
    assert counts == "3 notes, 0:20 · times in Asia/Kolkata"
    assert sid_line == f"Session id {stored['session_id']}"
    received = datetime.fromisoformat(stored["audio_entries"][0]["received_at"])
    assert blocks[0].startswith(f"Note 1 · {received.astimezone(kolkata):%H:%M} · ")
    body = "\n\n".join(said)

    [session] = metadata(tmp_path)
    folder = tmp_path / "sessions" / session["session_id"]
    assert session["state"] == "TRANSCRIBED"
    assert session["delivered_at"] is not None
    assert [e["filename"] for e in session["audio_entries"]] == [
        "001_audio.ogg",
        "002_audio.ogg",
        "003_audio.ogg",
    ]
    assert [e["transcription_status"] for e in session["audio_entries"]] == ["COMPLETED"] * 3
    for n, name in enumerate(names, start=1):
        assert (folder / f"audio/{n:03d}_audio.ogg").read_bytes() == (FIXTURES / name).read_bytes()
        assert (folder / f"transcripts/{n:03d}_audio.txt").is_file()
    assert (folder / "process/input.txt").read_text().strip() == body.strip()
    output = running[0].output()
    assert fake.token not in output
    assert fake.token.split(":")[1] not in output
    # The log line is written after metadata.json says delivered: wait for it, not for the file.
    await eventually(lambda: logged(running[0], "transcript_delivered"))
    events = {e.get("event") for e in running[0].events()}
    assert {"update_handled", "session_event", "transcript_delivered"} <= events

    # /start on an open session whose notes are transcribed: one answer, after the old
    # session's transcript (no "finishing" notice, no progress message).
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 4, timeout=20)
    await eventually(lambda: open_statuses(tmp_path) == ["COMPLETED"], timeout=60)
    since = len(fake.sent)
    fake.text(CHAT, USER, "/start")
    await fake.wait_for(is_text(CHAT, "New session started"), since=since, timeout=30)
    said = [c.text or "" for c in fake.sent[since:] if c.method == "sendMessage"]
    assert len(said) == 2
    assert said[0].startswith("Transcript: ")
    assert said[1] == texts.START


def open_statuses(tmp_path: Path) -> list[str] | None:
    """The notes' transcription statuses of the chat's open session (None: none open)."""
    found = [s for s in metadata(tmp_path) if s["state"] == "COLLECTING"]
    return [e["transcription_status"] for e in found[0]["audio_entries"]] if found else None


async def test_stranger_refused_and_nothing_stored(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, ALLOWED_USER_IDS="42")
    send_voice(fake, "speech_01.ogg", chat=555, user=555)
    refusal = await fake.wait_for(is_text(555, "Access to this bot is closed"))
    assert refusal.text is not None
    assert "555" in refusal.text
    assert "ALLOWED_USER_IDS" in refusal.text
    assert fake.downloads == []
    assert metadata(tmp_path) == []


async def test_limits_refused_before_download(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, MAX_AUDIO_DURATION_SECONDS="60")
    file_id = fake.add_file(b"never downloaded")
    fake.voice(CHAT, USER, file_id=file_id, duration=95)
    too_long = await fake.wait_for(is_text(CHAT, "limit is 1:00"))
    assert too_long.text is not None
    assert "0:35 over" in too_long.text
    fake.voice(CHAT, USER, file_id=file_id, duration=5, file_size=25 * 1024 * 1024)
    too_big = await fake.wait_for(is_text(CHAT, "at most 20.0 MB"))
    assert too_big.text is not None
    assert "5.0 MB over" in too_big.text
    assert fake.downloads == []
    assert all(not s["audio_entries"] for s in metadata(tmp_path))


async def test_a_damaged_file_is_refused_at_once_even_across_a_crash(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    """A file with no readable audio gets its own reply as it arrives: no ✍, nothing
    stored, and the session goes on. The update is confirmed only once the reply is sent:
    a crash before that brings it back, and the reply is sent then, once."""
    proc = await launch(fake, tmp_path, running)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    await fake.wait_for(is_text(CHAT, "Recording: 1 note"), timeout=20)
    fake.hang("sendMessage", count=1)  # the refusal hangs ...
    calls = len(fake.calls)
    damaged = send_voice(fake, "corrupt.ogg")
    await fake.wait_called("sendMessage", timeout=20, since=calls)
    assert damaged in proc.held_updates()  # ... and its update is not done with
    await proc.kill()  # a crash before the reply went out

    await launch(fake, tmp_path, running)
    refusal = await fake.wait_for(is_text(CHAT, texts.NO_READABLE_AUDIO), timeout=30)
    [shown] = [m for m in fake.messages(CHAT) if m["message_id"] == refusal.message_id]
    replied = shown["reply_to_message"]  # a reply to the damaged file itself
    assert "voice" in replied
    corrupt_message = replied["message_id"]
    send_voice(fake, "speech_02.ogg")  # the session goes on
    await fake.wait_reactions(CHAT, 2, timeout=20)
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert transcript.text is not None
    header, *blocks = transcript.text.split("\n\n")
    assert "2 notes" in header
    assert "failed" not in header
    assert len(blocks) == 2
    assert blocks[1].startswith("Note 2 · ")
    assert word_error_rate(REFERENCES["speech_02.ogg"], blocks[1].split("\n", 1)[1]) <= 0.3
    assert fake.texts(CHAT).count(texts.NO_READABLE_AUDIO) == 1  # said once
    [session] = metadata(tmp_path)
    assert [e["transcription_status"] for e in session["audio_entries"]] == ["COMPLETED"] * 2
    assert not session.get("reserved_sequences")
    folder = tmp_path / "sessions" / session["session_id"] / "audio"
    assert sorted(p.name for p in folder.iterdir()) == ["001_audio.ogg", "002_audio.ogg"]
    assert (folder / "002_audio.ogg").read_bytes() == (FIXTURES / "speech_02.ogg").read_bytes()
    assert corrupt_message not in fake.reactions(CHAT)  # no ✍ on the damaged file


async def test_done_with_nothing_keeps_session_open(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running)
    fake.text(CHAT, USER, "/start")
    await fake.wait_for(is_text(CHAT, "New session started"))
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, "nothing to transcribe"))
    [session] = metadata(tmp_path)
    assert session["state"] == "COLLECTING"


async def test_kill_during_ingestion_then_restart(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    fake.delay_file(30)  # the next downloads hang half-way
    second = send_voice(fake, "speech_02.ogg")
    send_voice(fake, "speech_03.ogg")
    await eventually(lambda: len(fake.downloads) >= 3)
    await proc.kill()
    assert second in proc.held_updates()  # its audio not stored: the next start handles it

    fake.delay_file(0)
    await launch(fake, tmp_path, running)
    await fake.wait_reactions(CHAT, 3, timeout=30)
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    [session] = metadata(tmp_path)
    entries = session["audio_entries"]
    assert [e["sequence"] for e in entries] == [1, 2, 3]
    assert [e["message_id"] for e in entries] == sorted(e["message_id"] for e in entries)
    folder = tmp_path / "sessions" / session["session_id"] / "audio"
    assert sorted(p.name for p in folder.iterdir()) == [
        "001_audio.ogg",
        "002_audio.ogg",
        "003_audio.ogg",
    ]
    assert (folder / "002_audio.ogg").read_bytes() == (FIXTURES / "speech_02.ogg").read_bytes()


async def test_kill_during_transcription_then_restart(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await launch(fake, tmp_path, running)
    # 67 s of speech: several seconds of work even for one idle core, so the kill below
    # lands mid-transcription (live transcription starts with the first note).
    names = ("speech_04.ogg", "speech_03.ogg", "speech_04.ogg", "speech_03.ogg", "speech_04.ogg")
    for name in names:
        send_voice(fake, name)
    await fake.wait_reactions(CHAT, len(names), timeout=20)
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, "Transcribing: "), timeout=20)  # the session's message
    await proc.kill()
    [before] = metadata(tmp_path)
    assert before["state"] == "TRANSCRIBING"

    await launch(fake, tmp_path, running)
    await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=90)
    await eventually(lambda: delivered(tmp_path))
    [session] = metadata(tmp_path)
    assert session["state"] == "TRANSCRIBED"
    assert len(session["audio_entries"]) == len(names)
    statuses = [e["transcription_status"] for e in session["audio_entries"]]
    assert statuses == ["COMPLETED"] * len(names)
    transcripts = [t for t in fake.texts(CHAT) if t.startswith("Transcript: ")]
    assert len(transcripts) == 1  # delivered once


async def test_429_during_delivery(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    proc = await one_note_transcribing(fake, tmp_path, running)
    fake.fail_next("sendMessage", status=429, retry_after=1)
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    assert transcript.text is not None
    await eventually(lambda: delivered(tmp_path))
    retries = [e for e in proc.events() if e.get("event") == "telegram_retry"]
    assert [(e["method"], e["error"]) for e in retries] == [("SendMessage", "429")]


async def test_sigterm_exits_quickly_and_session_carries_on(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    heartbeat = tmp_path / "heartbeat"
    proc = await launch(fake, tmp_path, running, HEARTBEAT_FILE=str(heartbeat))
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    await eventually(heartbeat.exists, timeout=10)  # touched while polling works
    seconds = await proc.terminate()
    assert seconds < 10
    assert proc.proc is not None
    assert proc.proc.returncode == 0

    await launch(fake, tmp_path, running)
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    assert len(metadata(tmp_path)) == 1


async def test_markdown_processor_sends_its_files(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, PROCESSOR="markdown")
    send_voice(fake, "speech_01.ogg")
    send_voice(fake, "speech_02.ogg")
    await fake.wait_reactions(CHAT, 2, timeout=20)
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)
    markdown = await fake.wait_for(lambda c: c.document_name == "session.md", timeout=30)
    srt = await fake.wait_for(lambda c: c.document_name == "session.srt", timeout=10)
    assert markdown.document_bytes is not None
    document = markdown.document_bytes.decode()
    assert "## Note 2" in document
    assert "warm coat" in document
    assert srt.document_bytes is not None
    assert "-->" in srt.document_bytes.decode()
    await eventually(lambda: metadata(tmp_path)[0]["outputs_delivered_at"] is not None)
    [session] = metadata(tmp_path)
    assert session["state"] == "PROCESSED"
    fake.text(CHAT, USER, "/status")
    await fake.wait_for(is_text(CHAT, "After transcription: markdown processing."))
    # /get sends the transcript and the processor's files again.
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/get {session['session_id']}")
    await fake.wait_for(is_text(CHAT, "Transcript: "), since=since)
    again = await fake.wait_for(lambda c: c.document_name == "session.md", since=since)
    assert again.document_bytes == markdown.document_bytes


async def test_failing_command_processor_is_reported(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    command = 'command:echo "cannot summarise" >&2; exit 3'
    await launch(fake, tmp_path, running, PROCESSOR=command)
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=20)
    fake.text(CHAT, USER, "/done")
    await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=60)  # still delivered
    failure = await fake.wait_for(is_text(CHAT, "Processing the transcript failed"), timeout=30)
    assert failure.text is not None
    assert "status 3" in failure.text
    await eventually(lambda: metadata(tmp_path)[0]["outputs_delivered_at"] is not None)
    [session] = metadata(tmp_path)
    assert session["state"] == "ERROR"
    error = session["errors"][-1]
    assert error["code"] == "processor_failed"
    assert error["details"]["exit_status"] == 3
    assert "cannot summarise" in error["details"]["stderr_tail"]
