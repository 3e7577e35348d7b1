"""Speaker turns on the task queue: the real ``python -m transcription.worker`` with tiny.en
and the real diarization engine. The chat's ``/speakers`` travels with the job (the bot's
``DIARIZATION`` decides), the worker loads its diarizer on the first job that asks, and the
transcript comes back in turns; a chat without ``/speakers`` gets its note as before."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from sessions import FileSessionManager
from tests.conftest import FIXTURES
from tests.redis_server import RedisServer
from tests.transcription.test_chat_options import finished_session
from tests.transcription.test_queue import WorkerProcess, start_worker
from tests.transcription.test_queue import settings_for as queue_settings_for
from tests.transcription.test_queue import workers as workers  # the fixture, reused
from transcription import transcribe_session
from transcription.queue import QueueTranscriber

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(360),
    pytest.mark.skipif(
        importlib.util.find_spec("transcription.diarization") is None,
        reason="the diarization engine (transcription.diarization) is not in this tree",
    ),
]
_TURN = re.compile(r"^Speaker (\d+): ", re.MULTILINE)


async def test_a_worker_diarizes_only_the_notes_whose_chat_asked(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    worker_process = await start_worker(redis, tmp_path, workers)
    await manager.update_chat_settings(1, lambda s: s.with_speakers(True))
    audio = (FIXTURES / "two_voices.ogg").read_bytes()
    asked = await finished_session(manager, 1, audio)
    plain = await finished_session(manager, 2, audio)
    settings = queue_settings_for(redis, concurrency=1).model_copy(update={"diarization": True})
    queue = QueueTranscriber(settings)
    await queue.start()
    try:
        for session in (asked, plain):
            await transcribe_session(manager, queue, session.session_id, settings)
    finally:
        await queue.aclose()
    texts = [
        (manager.get_session_path(s.session_id) / "process/input.txt").read_text()
        for s in (asked, plain)
    ]
    assert sorted(set(_TURN.findall(texts[0]))) == ["1", "2"], texts[0]
    assert not _TURN.findall(texts[1])
    assert worker_process.count("diarizer_loaded") == 1
    assert worker_process.count("diarized") == 1
