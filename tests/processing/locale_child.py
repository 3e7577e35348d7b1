"""Run by test_transcripts_are_utf8_whatever_the_locale in a Python whose locale encoding is
ASCII: a session with non-ASCII speech through the real pipeline and both processors.

Prints one JSON line: the locale encoding, the session's state and its output folder.
"""

from __future__ import annotations

import asyncio
import json
import locale
import sys
from pathlib import Path

from processing import CommandProcessor, MarkdownProcessor
from sessions import FileSessionManager, FileSessionStorage, SessionConfig, SessionFolder
from tests.conftest import add_note
from transcription import TranscriptionSettings, TranscriptResult, TranscriptSegment
from transcription.pipeline import transcribe_session

TEXT = "Zoë, naïve, 東京"


class Utf8Transcriber:
    """The "audio" holds its transcript as UTF-8 bytes."""

    async def transcribe(self, path: Path, options: object = None) -> TranscriptResult:
        words = path.read_bytes().decode("utf-8")
        segment = TranscriptSegment(start=0.0, end=2.0, text=words)
        return TranscriptResult(text=words, language="en", duration_seconds=2.0, segments=[segment])

    async def aclose(self) -> None:
        pass


async def main(base: Path) -> None:
    manager = FileSessionManager(FileSessionStorage(base), SessionConfig(base_dir=base))
    session = await manager.create_session(chat_id=1)
    await add_note(manager, session, message_id=1, data=TEXT.encode())
    await manager.finalize_session(session.session_id)
    settings = TranscriptionSettings(transcription_retries=0)
    session = await transcribe_session(manager, Utf8Transcriber(), session.session_id, settings)
    folder = manager.get_session_path(session.session_id)
    await MarkdownProcessor().run(session, SessionFolder(folder))
    await CommandProcessor('cp "$PROCESS_INPUT" copy.txt', 10).run(session, SessionFolder(folder))
    report = {
        "encoding": locale.getpreferredencoding(False),
        "state": session.state.value,
        "output": str(folder / "process" / "output"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
