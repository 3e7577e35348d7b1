"""The processors on their own: settings, the markdown writer, the command runner."""

from __future__ import annotations

import itertools
import json
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from processing import (
    CommandProcessor,
    MarkdownProcessor,
    ProcessingSettings,
    Processor,
    ProcessorError,
    build_processor,
)
from processing.processors import srt_timestamp
from sessions import FileSessionManager, SessionFolder
from tests.processing import output_dir, parse_srt, transcribed_session

# -- settings ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_processor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCESSOR", raising=False)
    monkeypatch.delenv("PROCESSOR_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("PROCESSOR_ENV", raising=False)
    monkeypatch.delenv("TIMEZONE", raising=False)


def settings(**values: object) -> ProcessingSettings:
    return ProcessingSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_unset_or_blank_processor_turns_the_stage_off() -> None:
    for value in (None, "", "   "):
        configured = settings(processor=value) if value is not None else settings()
        assert configured.processor is None
        assert configured.label is None
        assert build_processor(configured) is None
    assert settings().processor_timeout_seconds == 600


def test_markdown_and_command_are_recognised() -> None:
    markdown = settings(processor=" Markdown ")
    assert markdown.processor == "markdown"
    assert markdown.label == "markdown"
    assert isinstance(build_processor(markdown), MarkdownProcessor)

    command = settings(processor="command:echo hi > out.txt", processor_timeout_seconds=7)
    assert command.label == "command"
    assert command.command == "echo hi > out.txt"
    built = build_processor(command)
    assert isinstance(built, CommandProcessor)
    assert isinstance(built, Processor)
    assert (built.command, built.timeout_seconds) == ("echo hi > out.txt", 7)


def test_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESSOR", "command:echo")
    monkeypatch.setenv("PROCESSOR_TIMEOUT_SECONDS", "12.5")
    configured = settings()
    assert configured.command == "echo"
    assert configured.processor_timeout_seconds == 12.5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("command:", "needs a shell command"),
        ("command:   ", "needs a shell command"),
        ("bogus", "PROCESSOR must be empty, 'markdown' or 'command:<shell command>'"),
        ("markdown2", "PROCESSOR must be"),
    ],
)
def test_bad_processor_is_refused_clearly(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(processor=value)


@pytest.mark.parametrize("timeout", [0, -1])
def test_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValidationError):
        settings(processor="markdown", processor_timeout_seconds=timeout)


# -- markdown ------------------------------------------------------------------------------


def test_time_formats() -> None:
    assert srt_timestamp(0) == "00:00:00,000"
    assert srt_timestamp(3723.5) == "01:02:03,500"
    assert srt_timestamp(59.9996) == "00:01:00,000"


async def test_markdown_document_of_a_session(manager: FileSessionManager) -> None:
    session = await transcribed_session(
        manager,
        ("text:First thoughts about the garden.", 5),
        ("corrupt", 3),
        ("text:", 1),
        ("text:Last words.", 65),
    )
    folder = manager.get_session_path(session.session_id)
    await MarkdownProcessor().run(session, SessionFolder(folder))
    md = (output_dir(manager, session) / "session.md").read_text()

    created = session.created_at.astimezone(UTC)
    assert md.startswith(f"# Voice notes, {created:%Y-%m-%d %H:%M} UTC\n")
    assert f"Session `{session.session_id}` · 4 notes · 1:14 in all" in md
    times = [f"{e.received_at.astimezone(UTC):%H:%M:%S} UTC" for e in session.audio_entries]
    expected = [
        f"## Note 1 · {times[0]} · 0:05\n\nFirst thoughts about the garden.\n",
        f"## Note 2 · {times[1]} · 0:03\n\n"
        "_Could not be transcribed: cannot decode 002\\_audio.ogg_\n",
        f"## Note 3 · {times[2]} · 0:01\n\n_No speech recognised._\n",
        f"## Note 4 · {times[3]} · 1:05\n\nLast words.\n",
    ]
    positions = [md.index(part) for part in expected]
    assert positions == sorted(positions)
    assert md.count("## Note") == 4


async def test_markdown_times_are_in_the_owners_time_zone(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:Hello.", 2))
    folder = SessionFolder(manager.get_session_path(session.session_id))
    processor = build_processor(settings(processor="markdown", timezone="America/New_York"))
    assert processor is not None
    await processor.run(session, folder)
    md = (output_dir(manager, session) / "session.md").read_text()
    zone = ZoneInfo("America/New_York")
    created = session.created_at.astimezone(zone)
    assert md.startswith(f"# Voice notes, {created:%Y-%m-%d %H:%M} America/New_York\n")
    received = session.audio_entries[0].received_at.astimezone(zone)
    assert f"## Note 1 · {received:%H:%M:%S} America/New_York · 0:02" in md
    assert " UTC" not in md


async def test_srt_is_one_continuous_timeline(manager: FileSessionManager) -> None:
    # The scripted transcriber's notes last 2.0 s (per their .json) with one segment each.
    session = await transcribed_session(
        manager, ("text:one", 5), ("corrupt", 3), ("text:", 1), ("text:four", 9)
    )
    folder = manager.get_session_path(session.session_id)
    await MarkdownProcessor().run(session, SessionFolder(folder))
    cues = parse_srt((output_dir(manager, session) / "session.srt").read_text())

    assert [c.number for c in cues] == [1, 2]
    assert [c.text for c in cues] == ["one", "four"]
    assert (cues[0].start, cues[0].end) == (0.0, 2.0)
    # Note 1 took 2 s (its .json), the failed note 3 s (its entry), the silent one 2 s.
    assert (cues[1].start, cues[1].end) == (7.0, 9.0)


async def test_srt_shifts_segments_by_earlier_notes(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:a b", 5.0), ("text:c", 4.0))
    folder = manager.get_session_path(session.session_id)
    # A note with several segments and no measured duration: its entry's duration counts.
    (folder / "transcripts" / "001_audio.json").write_text(
        json.dumps(
            {
                "sequence": 1,
                "text": "a b",
                "segments": [
                    {"start": 0.0, "end": 1.25, "text": " a "},
                    {"start": 1.5, "end": 4.75, "text": "b\n\nstill b"},
                ],
            }
        )
    )
    await MarkdownProcessor().run(session, SessionFolder(folder))
    srt = (output_dir(manager, session) / "session.srt").read_text()
    cues = parse_srt(srt)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.0, 1.25, "a"),
        (1.5, 4.75, "b\nstill b"),
        (5.0, 7.0, "c"),
    ]
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    first_note_duration = session.audio_entries[0].duration_seconds
    assert cues[2].start >= first_note_duration


async def test_markdown_overwrites_an_earlier_run(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:fresh", 2))
    folder = manager.get_session_path(session.session_id)
    (output_dir(manager, session) / "session.md").write_text("stale")
    await MarkdownProcessor().run(session, SessionFolder(folder))
    assert "fresh" in (output_dir(manager, session) / "session.md").read_text()


# -- command -------------------------------------------------------------------------------


async def test_command_runs_in_the_output_folder_with_paths_in_env(
    manager: FileSessionManager,
) -> None:
    session = await transcribed_session(manager, ("text:hello", 2), chat_id=42)
    folder = manager.get_session_path(session.session_id)
    command = (
        'printf "%s\\n" "$SESSION_DIR" "$SESSION_ID" "$CHAT_ID" "$PROCESS_INPUT" '
        '"$PROCESS_OUTPUT_DIR" > env.txt; pwd -P > cwd.txt; echo to-stdout; echo to-stderr >&2'
    )
    await CommandProcessor(command, 10).run(session, SessionFolder(folder))
    out = output_dir(manager, session)
    assert (out / "env.txt").read_text().splitlines() == [
        str(folder),
        session.session_id,
        "42",
        str(folder / "process" / "input.txt"),
        str(out),
    ]
    assert Path((out / "cwd.txt").read_text().strip()) == out.resolve()
    log = (out / "processor.log").read_text()
    assert "to-stdout" in log
    assert "to-stderr" in log


async def test_command_failure_carries_status_and_stderr(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:hello", 2))
    folder = manager.get_session_path(session.session_id)
    command = "head -c 3000 /dev/zero | tr '\\0' x >&2; echo >&2; echo 'it broke here' >&2; exit 3"
    with pytest.raises(ProcessorError) as caught:
        await CommandProcessor(command, 10).run(session, SessionFolder(folder))
    error = caught.value
    assert error.details["exit_status"] == 3
    tail = error.details["stderr_tail"]
    assert tail.endswith("it broke here")
    assert len(tail) <= 1000
    assert error.message == "the command exited with status 3: it broke here"
    assert "x" * 2000 in (output_dir(manager, session) / "processor.log").read_text()


async def test_command_killed_by_a_signal_says_which(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:hello", 2))
    folder = manager.get_session_path(session.session_id)
    with pytest.raises(ProcessorError, match="killed by SIGKILL") as caught:
        await CommandProcessor("exec kill -9 $$", 10).run(session, SessionFolder(folder))
    assert caught.value.details["exit_status"] == -9


async def test_command_log_is_fresh_on_each_run(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:hello", 2))
    folder = manager.get_session_path(session.session_id)
    await CommandProcessor("echo first run", 10).run(session, SessionFolder(folder))
    await CommandProcessor("echo second run", 10).run(session, SessionFolder(folder))
    assert (output_dir(manager, session) / "processor.log").read_text() == "second run\n"


async def test_no_speech_no_empty_subtitles(manager: FileSessionManager) -> None:
    session = await transcribed_session(manager, ("text:", 1), ("corrupt", 3))
    folder = manager.get_session_path(session.session_id)
    await MarkdownProcessor().run(session, SessionFolder(folder))
    out = output_dir(manager, session)
    assert (out / "session.md").is_file()
    assert not (out / "session.srt").exists()  # Telegram refuses an empty file


async def test_stderr_goes_to_the_log_the_bot_opened_not_to_a_link_in_its_place(
    manager: FileSessionManager, tmp_path: Path
) -> None:
    session = await transcribed_session(manager, ("text:hello", 2))
    folder = manager.get_session_path(session.session_id)
    elsewhere = tmp_path / "not-the-log.txt"
    elsewhere.write_text("untouched\n")
    command = f"rm processor.log; ln -s {elsewhere} processor.log; echo oops >&2"
    await CommandProcessor(command, 10).run(session, SessionFolder(folder))
    assert elsewhere.read_text() == "untouched\n"
