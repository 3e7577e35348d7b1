"""Transcripts are UTF-8 whatever the locale; stored files get owner-only modes."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sessions import FileSessionManager
from sessions.layout import DIR_MODE, FILE_MODE
from tests.conftest import TIMEOUT_SCALE, add_note
from tests.transcription.fakes import ScriptedTranscriber
from transcription import TranscriptionSettings, transcribe_session

REPO = Path(__file__).resolve().parents[2]
WORDS = "Café crème, naïve façade: 東京で会いましょう — ¡olé!"


@pytest.mark.slow
def test_transcripts_are_utf8_under_an_ascii_locale(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, locale, sys
        from pathlib import Path
        from sessions import EventBus, FileSessionManager, FileSessionStorage, SessionConfig
        from tests.conftest import add_note
        from tests.transcription.fakes import ScriptedTranscriber
        from transcription import TranscriptionSettings, transcribe_session

        assert locale.getpreferredencoding(False).lower() in ("ascii", "ansi_x3.4-1968")
        async def main() -> None:
            base = Path(sys.argv[1])
            config = SessionConfig(base_dir=base, max_audio_duration_seconds=60)
            manager = FileSessionManager(FileSessionStorage(base), config, events=EventBus())
            session = await manager.create_session(chat_id=1)
            await add_note(manager, session, message_id=1, data={("text:" + WORDS).encode()!r})
            await manager.finalize_session(session.session_id)
            settings = TranscriptionSettings(transcription_retries=0)
            done = await transcribe_session(
                manager, ScriptedTranscriber(), session.session_id, settings
            )
            print(done.state.value, manager.get_session_path(session.session_id))
        asyncio.run(main())
        """
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))},
        "LC_ALL": "C",
        "PYTHONUTF8": "0",  # no UTF-8 mode, no locale coercion: the locale really is ASCII
        "PYTHONCOERCECLOCALE": "0",
    }
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "sessions")],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120 * TIMEOUT_SCALE,
        check=False,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    state, folder = run.stdout.decode().splitlines()[-1].split()
    assert state == "TRANSCRIBED", run.stdout.decode(errors="replace")[-3000:]
    assert (Path(folder) / "process/input.txt").read_bytes() == (WORDS + "\n").encode("utf-8")
    assert (Path(folder) / "transcripts/001_audio.txt").read_bytes() == (WORDS + "\n").encode()


def _text_io_without_encoding(source: str) -> list[int]:
    """Lines of calls that read or write text in the locale's encoding."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg for k in node.keywords}
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("read_text", "write_text") and "encoding" not in keywords:
            found.append(node.lineno)
        elif name in ("open", "fdopen") and "encoding" not in keywords:
            modes = [a for a in node.args[1:2] if isinstance(a, ast.Constant)]
            modes += [k.value for k in node.keywords if k.arg == "mode"]  # type: ignore[misc]
            binary = any(isinstance(m, ast.Constant) and "b" in str(m.value) for m in modes)
            if not binary and name == "open" and isinstance(func, ast.Attribute):
                continue  # os.open and the like: file descriptors, not text
            if not binary:
                found.append(node.lineno)
    return found


def test_no_text_io_in_the_locale_encoding() -> None:
    offenders = {}
    for package in ("transcription", "sessions"):
        for path in sorted((REPO / package).rglob("*.py")):
            lines = _text_io_without_encoding(path.read_text(encoding="utf-8"))
            if lines:
                offenders[str(path.relative_to(REPO))] = lines
    assert offenders == {}


@pytest.mark.usefixtures("permissive_umask")
async def test_transcripts_and_session_folders_are_owner_only(
    manager: FileSessionManager,
) -> None:
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=1, data=b"text:private words")
    await manager.finalize_session(session.session_id)
    await transcribe_session(
        manager, ScriptedTranscriber(), session.session_id, TranscriptionSettings()
    )
    folder = manager.get_session_path(session.session_id)
    for path in [folder, *folder.rglob("*")]:
        if path.parent.name == "audio":
            continue  # written by the test itself here (the bot's ingestion writes it there)
        expected = DIR_MODE if path.is_dir() else FILE_MODE
        assert path.stat().st_mode & 0o777 == expected, path
