"""Delivery that finishes, over real HTTP (fake Bot API): limits, retries, restarts, outputs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.methods import SendMessage, TelegramMethod

from bot.services.delivery import RetryPolicy
from bot.services.notifier import Notifier
from processing import CommandProcessor, ProcessingService
from sessions import AudioEntry, FileSessionManager, Session, SessionState, TranscriptionStatus
from tests.bot.conftest import close_bot, make_bot
from tests.conftest import TIMEOUT_SCALE, add_note
from tests.fake_telegram import FakeTelegram
from tests.processing import FAST as TRANSCRIBE
from tests.processing import output_dir, transcribed_session
from tests.transcription.fakes import ScriptedTranscriber
from transcription import transcribe_session

CHAT = 1  # transcribed_session's chat
FAST = RetryPolicy(first_delay=0.01, max_delay=0.1)
SENTENCE = "This is a fairly ordinary sentence about the weekly plan. "


class SleepRecorder:
    """Stands in for asyncio.sleep: records each delay asked for, and only yields."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def deliver_at_start(
    bot: Bot, manager: FileSessionManager, **options: Any
) -> FileSessionManager:
    """What a start does: a new notifier delivers whatever is undelivered, to the end."""
    notifier = Notifier(bot, manager, retry=options.pop("retry", FAST), **options)
    notifier.attach()
    await notifier.resume()
    await asyncio.wait_for(notifier.wait_idle(), 30)
    await notifier.stop()
    return manager


def sent_texts(fake: FakeTelegram) -> list[str]:
    return [c.text or "" for c in fake.sent if c.method == "sendMessage"]


def documents(fake: FakeTelegram) -> list[str]:
    return [c.document_name or "" for c in fake.sent if c.method == "sendDocument"]


async def with_failed_notes(
    manager: FileSessionManager, count: int, reason: str = "cannot decode {path}: error {n}"
) -> Session:
    """A TRANSCRIBED session with one good note and ``count`` failed ones (each with a long,
    path-laden reason), written straight into its metadata: 300 real notes would be slow."""
    session = await transcribed_session(manager, ("text:the one good note", 2))
    folder = manager.get_session_path(session.session_id)
    for n in range(2, count + 2):
        path = folder / "audio" / f"{n:03d}_audio.ogg"
        session.audio_entries.append(
            AudioEntry(
                sequence=n,
                filename=path.name,
                duration_seconds=2,
                transcription_status=TranscriptionStatus.FAILED,
                error=reason.format(path=path, n=n) + " because the file ended early" * 3,
            )
        )
    await asyncio.to_thread(manager.storage.save, session)
    return session


async def processed(manager: FileSessionManager, files: dict[str, bytes]) -> Session:
    """A PROCESSED session whose transcript went out, with ``files`` in process/output/."""
    session = await transcribed_session(manager, ("text:short and sweet", 2))
    await manager.mark_delivered(session.session_id)
    await manager.transition_state(session.session_id, SessionState.PROCESSING)
    out = output_dir(manager, session)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return await manager.transition_state(session.session_id, SessionState.PROCESSED)


# -- within Telegram's limits ----------------------------------------------------------------


async def test_300_failed_notes_fit_in_messages_and_delivery_ends(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await with_failed_notes(manager, 300)
    await deliver_at_start(bot, manager)

    texts = sent_texts(fake)
    assert all(len(t) <= 4096 for t in texts)
    said = "\n".join(texts)
    for n in (2, 150, 301):  # each failed note in its place, with its reason in plain words
        assert f"Note {n} · " in said
    assert said.count("(not transcribed: the file is damaged or not audio)") == 300
    assert str(manager.storage.base_dir) not in said  # never a server path...
    assert "error 2" not in said  # ... nor the error's own words
    stored = await manager.require_session(session.session_id)
    assert stored.delivered_at is not None
    assert stored.delivery.refused == {}


async def test_a_failure_without_known_words_is_said_plainly(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    await with_failed_notes(manager, 2, reason="[Errno 12] Cannot allocate memory: {path}")
    await deliver_at_start(bot, manager)
    said = "\n".join(sent_texts(fake))
    reason = "(not transcribed: something went wrong (the bot's log has the details))"
    assert said.count(reason) == 2
    assert "Errno" not in said
    assert "audio/" not in said


async def test_empty_output_is_not_sent_and_delivery_ends(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await processed(manager, {"session.md": b"# Notes\n", "session.srt": b""})
    await deliver_at_start(bot, manager)
    assert documents(fake) == ["session.md"]
    assert "Not sent, because they are empty: session.srt." in sent_texts(fake)
    stored = await manager.require_session(session.session_id)
    assert stored.outputs_delivered_at is not None

    sent = len(fake.sent)
    await deliver_at_start(bot, manager)  # the next start: nothing is sent again
    assert len(fake.sent) == sent


async def test_output_over_50_mb_gets_a_note_instead(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await processed(manager, {"small.txt": b"fits", "big.bin": b"x"})
    os.truncate(output_dir(manager, session) / "big.bin", 51 * 1024 * 1024)  # sparse: cheap
    await deliver_at_start(bot, manager)
    assert documents(fake) == ["small.txt"]
    assert any(t.startswith("big.bin is 51.0 MB, over the 50.0 MB") for t in sent_texts(fake))


async def test_only_regular_files_of_the_output_are_sent(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("a file of the server's, outside the session")
    session = await processed(manager, {"summary.txt": b"the summary"})
    out = output_dir(manager, session)
    (out / "passwd.txt").symlink_to("/etc/passwd")
    (out / "outside.txt").symlink_to(secret)
    (out / "folder").mkdir()
    os.mkfifo(out / "pipe")
    await deliver_at_start(bot, manager)

    assert documents(fake) == ["summary.txt"]
    assert all(b"outside the session" not in (c.document_bytes or b"") for c in fake.sent)
    note = "Not sent, because they are not plain files: folder, outside.txt, passwd.txt, pipe."
    assert note in sent_texts(fake)
    assert (await manager.require_session(session.session_id)).outputs_delivered_at is not None


async def test_output_folder_replaced_by_a_link_sends_nothing_from_it(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.txt").write_text("not the processor's to send")
    session = await processed(manager, {})
    out = output_dir(manager, session)
    out.rmdir()
    out.symlink_to(elsewhere)
    await deliver_at_start(bot, manager)
    assert documents(fake) == []
    assert (await manager.require_session(session.session_id)).outputs_delivered_at is not None


# -- retries in the running process ----------------------------------------------------------


async def test_transient_failures_are_retried_in_process_each_part_once(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await transcribed_session(manager, ("text:delivered despite two 502s", 2))
    fake.fail_next("sendMessage", status=502, count=2)
    await deliver_at_start(bot, manager)
    transcripts = [t for t in sent_texts(fake) if "despite two 502s" in t]
    assert len(transcripts) == 1
    assert (await manager.require_session(session.session_id)).delivered_at is not None


async def test_retry_backoff_doubles_and_429_waits_retry_after(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    await transcribed_session(manager, ("text:patience", 2))
    fake.fail_next("sendMessage", status=502, count=3)
    fake.fail_next("sendMessage", status=429, retry_after=7)
    sleep = SleepRecorder()
    policy = RetryPolicy(first_delay=0.5, max_delay=60)
    await deliver_at_start(bot, manager, retry=policy, sleep=sleep)
    assert sleep.delays == [0.5, 1.0, 2.0, 7.0]
    assert any("patience" in t for t in sent_texts(fake))


async def test_backoff_is_capped() -> None:
    policy = RetryPolicy(first_delay=1, max_delay=5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


async def test_a_part_refused_for_good_is_skipped_and_noted(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await with_failed_notes(manager, 300)  # a transcript of several messages
    fake.fail_next("sendMessage", status=400, description="Bad Request: something odd")
    await deliver_at_start(bot, manager)
    assert any("Note 301 · " in t for t in sent_texts(fake))  # the rest went on
    stored = await manager.require_session(session.session_id)
    assert stored.delivered_at is not None
    assert stored.delivery.refused == {"transcript/1": "Bad Request: something odd"}


# -- a restart re-sends nothing that arrived ------------------------------------------------


async def test_restart_after_part_one_of_three_sends_only_the_rest(
    fake: FakeTelegram, manager: FileSessionManager
) -> None:
    paragraphs = [f"text:{n} {SENTENCE * 50}" for n in ("First.", "Second.", "Third.")]
    session = await transcribed_session(manager, *((p, 2) for p in paragraphs))
    blocked = asyncio.Event()

    async def stall_second_message(make_request: Any, bot: Bot, method: TelegramMethod[Any]) -> Any:
        # The process "dies" while part 2 is on its way: it never reaches Telegram.
        if isinstance(method, SendMessage) and len(sent_texts(fake)) >= 1:
            blocked.set()
            await asyncio.Event().wait()
        return await make_request(bot, method)

    first_run = make_bot(fake)
    first_run.session.middleware(stall_second_message)
    notifier = Notifier(first_run, manager, retry=FAST)
    await notifier.resume()
    await asyncio.wait_for(blocked.wait(), 10 * TIMEOUT_SCALE)
    await notifier.stop(grace_seconds=0)
    await close_bot(first_run)
    assert len(sent_texts(fake)) == 1

    second_run = make_bot(fake)
    try:
        await deliver_at_start(second_run, manager)
    finally:
        await close_bot(second_run)
    texts = sent_texts(fake)
    assert [t.split(" ", 1)[0] for t in texts] == ["Transcript:", "Note", "Note"]
    assert texts[0].split("\n\n")[1].split("\n")[1].startswith("First.")
    assert texts[1].split("\n")[1].startswith("Second.")
    assert texts[2].split("\n")[1].startswith("Third.")
    assert documents(fake) == [f"transcript_{session.session_id}.txt"]
    stored = await manager.require_session(session.session_id)
    assert stored.delivery.sent == [
        "transcript/1",
        "transcript/2",
        "transcript/3",
        "transcript/file",
    ]


async def test_delivery_progress_is_recorded_per_part(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    session = await processed(manager, {"a.txt": b"a", "b.txt": b"b"})
    await deliver_at_start(bot, manager)
    stored = await manager.require_session(session.session_id)
    assert stored.delivery.sent == ["outputs/a.txt", "outputs/b.txt"]
    assert stored.outputs_delivered_at is not None


# -- what the chat is told ---------------------------------------------------------------------


async def test_processing_failure_names_the_session_not_a_server_path(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    command = 'echo "cannot read $PROCESS_INPUT in $SESSION_DIR" >&2; exit 2'
    notifier = Notifier(bot, manager, retry=FAST)
    notifier.attach()
    service = ProcessingService(manager, CommandProcessor(command, 10))
    await service.start()
    try:
        session = await transcribed_session(manager, ("text:hello", 2))
        await asyncio.wait_for(service.wait_idle(), 10)
        await asyncio.wait_for(notifier.wait_idle(), 10)
    finally:
        await service.stop()
        await notifier.stop()
    [failure] = [t for t in sent_texts(fake) if t.startswith("Processing the transcript failed")]
    assert failure == (
        f"Processing the transcript failed (session {session.session_id}): the command exited "
        "with status 2: cannot read process/input.txt in the session folder"
    )
    assert all(str(manager.storage.base_dir) not in t for t in sent_texts(fake))


async def test_session_failure_is_sent_when_the_status_message_cannot_be_edited(
    fake: FakeTelegram, bot: Bot, manager: FileSessionManager
) -> None:
    notifier = Notifier(bot, manager, retry=FAST)
    notifier.attach()
    fake.fail_next("editMessageText", status=400, count=5, description="Bad Request: gone")
    session = await manager.create_session(chat_id=CHAT)
    await add_note(manager, session, message_id=1, data=b"corrupt")
    await manager.finalize_session(session.session_id)
    await transcribe_session(manager, ScriptedTranscriber(), session.session_id, TRANSCRIBE)
    await asyncio.wait_for(notifier.wait_idle(), 10)
    await notifier.stop()
    assert sent_texts(fake)[-1] == (
        f"Session {session.session_id} could not be transcribed: "
        "no voice note could be transcribed."
    )
    assert (await manager.require_session(session.session_id)).delivered_at is not None
