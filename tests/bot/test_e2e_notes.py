"""End to end: written notes against the real ``python -m bot``, the fake Bot API and a real
OpenAI-compatible server (llama.cpp serving SmolLM2-135M, ``tests/llm_server.py``).

One story, two bot processes (each start costs seconds): the endpoint is down when a session
is transcribed, so the transcript arrives and the note is owed; the bot stops; the endpoint
comes back and the bot starts again: the note follows, once. Then the buttons (a new note; a
stored one sent again without a model call), a reply with an instruction, /style and /status.
The model is tiny: these tests check the path, not the prose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import note_texts as nt
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, eventually, is_text, launch, send_voice
from tests.bot.test_e2e_library import tap
from tests.fake_telegram import FakeTelegram, SentCall
from tests.llm_server import LlamaServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


API_KEY = "sk-test-0123456789abcdef"


async def eventually_files(fake: FakeTelegram, name: str) -> list[SentCall]:
    await eventually(lambda: any(c.document_name == name for c in fake.sent), timeout=120)
    return [c for c in fake.sent if c.document_name == name]


def notes_env(llm_url: str, **more: str) -> dict[str, str]:
    return {
        "LLM_BASE_URL": llm_url,
        "LLM_MODEL": "smollm2",
        "LLM_TIMEOUT_SECONDS": "60",
        "LLM_CONTEXT_TOKENS": "2048",
        **more,
    }


def headed(fake: FakeTelegram, title: str) -> list[SentCall]:
    """The note messages under the bold header ``title`` the chat got."""
    return [
        c
        for c in fake.sent
        if c.chat_id == CHAT
        and c.method == "sendMessage"
        and c.params.get("parse_mode") == "HTML"
        and str(c.params.get("text", "")).startswith(f"<b>{title}</b>")
    ]


def note_files(fake: FakeTelegram, key: str) -> list[SentCall]:
    return [
        c
        for c in fake.sent
        if c.chat_id == CHAT and c.document_name is not None and c.document_name.startswith(key)
    ]


async def say(
    fake: FakeTelegram, text: str, expect: str, *, reply_to: int | None = None
) -> SentCall:
    since = len(fake.sent)
    fake.text(CHAT, USER, text, reply_to=reply_to)
    return await fake.wait_for(is_text(CHAT, expect), timeout=60, since=since)


async def test_a_note_follows_the_transcript_once_even_across_an_outage_and_a_restart(
    fake: FakeTelegram,
    tmp_path: Path,
    running: list[BotProcess],
    llm_server: LlamaServer,
    llm_url: str,
) -> None:
    # A key (llama.cpp's server takes any): never in the log, never given to a processor.
    env = notes_env(
        llm_url,
        LLM_DEFAULT_STYLE="summary",
        LLM_API_KEY=API_KEY,
        PROCESSOR="command:env > env.txt",
    )
    # The endpoint is down: the transcript must not wait for it, nor be lost with it.
    await llm_server.astop()
    first = await launch(fake, tmp_path, running, **env)
    assert "style" in {c["command"] for c in fake.commands}
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=30)
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=120)
    assert [label for label, _ in transcript.buttons()] == ["Summary", "Clean text", "To-dos"]
    # The retries spent, one plain message with a button to try again.
    failed = await fake.wait_for(is_text(CHAT, "The summary could not be written"), timeout=120)
    assert [label for label, _ in failed.buttons()] == ["Try again"]
    assert "LLM_" not in (failed.text or "")
    [env_file] = await eventually_files(fake, "env.txt")
    assert env_file.document_bytes is not None
    assert API_KEY.encode() not in env_file.document_bytes
    assert b"LLM_API_KEY" not in env_file.document_bytes
    await first.terminate()
    assert headed(fake, "Summary") == []

    # Back up, and the bot started again: the note owed is written and delivered, once.
    await llm_server.astart()
    second = await launch(fake, tmp_path, running, **env)
    await eventually(lambda: len(note_files(fake, "summary_")) == 1, timeout=180)
    [summary] = headed(fake, "Summary")
    assert summary.params["parse_mode"] == "HTML"
    [md] = note_files(fake, "summary_")
    assert md.document_bytes  # the model's text, as written
    # "Try again" on the old failure now finds the note written: sent again, no model call.
    answer = await tap(fake, CHAT, USER, failed, failed.buttons()[0][1])
    assert answer["text"] == nt.sent_again("Summary")
    await eventually(lambda: len(note_files(fake, "summary_")) == 2)

    # A tap on To-dos: a new note, queued with a toast, then delivered.
    answer = await tap(fake, CHAT, USER, transcript, transcript.buttons()[2][1])
    assert answer["text"] == nt.writing("To-dos")
    await eventually(lambda: len(note_files(fake, "todo_")) == 1, timeout=180)
    assert len(headed(fake, "To-dos")) == 1

    # A second tap on Summary sends the stored note again: the same file, no model call.
    answer = await tap(fake, CHAT, USER, transcript, transcript.buttons()[0][1])
    assert answer["text"] == nt.sent_again("Summary")
    await eventually(lambda: len(note_files(fake, "summary_")) == 3)
    assert note_files(fake, "summary_")[2].document_bytes == md.document_bytes

    # A reply to the transcript with an instruction: the model's answer for that session.
    assert transcript.message_id is not None
    since = len(fake.sent)
    reply_id = 900001  # the instruction's message id names its answer: reply-<id>
    fake.text(
        CHAT, USER, "Make it one sentence.", reply_to=transcript.message_id, message_id=reply_id
    )
    await fake.wait_for(is_text(CHAT, nt.REPLY_QUEUED), timeout=60, since=since)
    await eventually(lambda: len(headed(fake, "Answer")) == 1, timeout=180)

    # /style and /status.
    await say(fake, "/style off", "no note after the transcripts")
    shown = await say(fake, "/status", "Notes:")
    assert "Notes: off (no note after the transcript)." in (shown.text or "")
    await second.terminate()
    for proc in (first, second):
        assert API_KEY not in proc.output()
    # Once each: nothing was delivered twice across the restart.
    assert len(headed(fake, "Summary")) == 3  # the first, then sent again on two taps
    assert len(headed(fake, "To-dos")) == 1
    written = [e for e in second.events() if e.get("event") == "note_written"]
    assert sorted(e["key"] for e in written) == ["reply-" + str(reply_id), "summary", "todo"]


async def test_without_a_model_style_says_so_and_there_are_no_buttons(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, LLM_BASE_URL="")
    reply = await say(fake, "/style summary", "not set up a language model")
    assert "LLM_" not in (reply.text or "")
    send_voice(fake, "speech_01.ogg")
    await fake.wait_reactions(CHAT, 1, timeout=30)
    fake.text(CHAT, USER, "/done")
    transcript = await fake.wait_for(is_text(CHAT, "Transcript: "), timeout=120)
    assert transcript.buttons() == []
