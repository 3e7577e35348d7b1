"""A chat's language and vocabulary reach the model for each of its notes: through the
pipeline, the engine's options, the task queue (a real redis-server), and the real models
(tiny.en on a name it gets wrong untold). A multilingual model on German speech:
``tests/bot/test_e2e_chat_settings.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from library import LibraryError
from sessions import ChatSettings, FileSessionManager, Session, SessionState
from tests.conftest import FIXTURES, add_note
from tests.redis_server import RedisServer
from tests.transcription.fakes import (
    FakeWhisperModel,
    ScriptedAudioTranscriber,
    ScriptedTranscriber,
)
from tests.transcription.test_engine import with_fake_model
from tests.transcription.test_queue import WorkerProcess, start_worker
from tests.transcription.test_queue import settings_for as queue_settings_for
from tests.transcription.test_queue import workers as workers  # the fixture, reused
from tests.transcription.test_queue_faults import bot_side, settings_for, worker
from transcription import TranscriptionSettings, WhisperTranscriber, transcribe_session
from transcription.languages import WHISPER_LANGUAGES, english_only_model
from transcription.options import DEFAULT_OPTIONS, MAX_HOTWORDS_CHARS, DecodeOptions
from transcription.queue import QueueTranscriber

KUBERNETES = FIXTURES / "vocabulary_01.ogg"
FAST = TranscriptionSettings(transcription_retries=0, transcription_retry_backoff_seconds=0.01)
CHAT_SETTINGS = ChatSettings(language="de", vocabulary=("Kubernetes", "Zoë Ortega"))
CHAT_OPTIONS = DecodeOptions(language="de", hotwords="Kubernetes, Zoë Ortega")


async def finished_session(manager: FileSessionManager, chat_id: int, script: bytes) -> Session:
    session = await manager.create_session(chat_id)
    await add_note(manager, session, data=script)
    return await manager.finalize_session(session.session_id)


# -- the pipeline asks the manager for each note's chat settings --------------------------------


async def test_each_note_is_transcribed_with_its_own_chats_settings(
    manager: FileSessionManager,
) -> None:
    await manager.update_chat_settings(1, lambda _: CHAT_SETTINGS)
    fake = ScriptedTranscriber()
    mine = await finished_session(manager, 1, b"text:mine")
    other = await finished_session(manager, 2, b"text:other")
    await transcribe_session(manager, fake, mine.session_id, FAST)
    await transcribe_session(manager, fake, other.session_id, FAST)
    assert fake.options == [CHAT_OPTIONS, DEFAULT_OPTIONS]


async def test_a_change_applies_to_the_notes_not_transcribed_yet(
    manager: FileSessionManager,
) -> None:
    fake = ScriptedTranscriber()
    first = await finished_session(manager, 1, b"text:before")
    await transcribe_session(manager, fake, first.session_id, FAST)
    await manager.update_chat_settings(1, lambda s: s.with_words(["Grafana"]))
    second = await finished_session(manager, 1, b"text:after")
    await transcribe_session(manager, fake, second.session_id, FAST)
    assert [o.hotwords for o in fake.options] == [None, "Grafana"]


async def test_settings_that_cannot_be_read_leave_the_note_to_the_defaults(
    manager: FileSessionManager,
) -> None:
    class Broken:
        async def load_chat_settings(self, chat_id: int) -> ChatSettings | None:
            raise LibraryError("the search index failed: disk I/O error")

        async def save_chat_settings(self, chat_id: int, settings: ChatSettings) -> None:
            raise LibraryError("the search index failed: disk I/O error")

        async def delete_chat_settings(self, chat_id: int) -> bool:
            raise LibraryError("the search index failed: disk I/O error")

    manager.use_chat_settings(Broken())
    fake = ScriptedTranscriber()
    session = await finished_session(manager, 1, b"text:still transcribed")
    with capture_logs() as logs:
        done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    assert fake.options == [DEFAULT_OPTIONS]
    assert "chat_settings_unavailable" in [e["event"] for e in logs]


async def test_a_vocabulary_longer_than_the_options_allow_is_cut_at_a_word(
    manager: FileSessionManager,
) -> None:
    # Stored under other limits (they are checked on change, not on read).
    words = tuple(f"Longname{n:04d}" for n in range(400))  # 14 characters each, with ", "
    await manager.update_chat_settings(1, lambda _: ChatSettings(language="de", vocabulary=words))
    fake = ScriptedTranscriber()
    session = await finished_session(manager, 1, b"text:still transcribed")
    done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    [options] = fake.options
    assert options.language == "de"
    assert options.hotwords is not None
    assert options.hotwords == ", ".join(words[: len(options.hotwords.split(", "))])
    assert MAX_HOTWORDS_CHARS - 14 < len(options.hotwords) <= MAX_HOTWORDS_CHARS


async def test_settings_the_options_refuse_leave_the_note_to_the_defaults_unlogged(
    manager: FileSessionManager,
) -> None:
    unchecked = ChatSettings.model_construct(language="Zoë Ortega", vocabulary=())
    await manager.update_chat_settings(1, lambda _: unchecked)
    fake = ScriptedTranscriber()
    session = await finished_session(manager, 1, b"text:still transcribed")
    with capture_logs() as logs:
        done = await transcribe_session(manager, fake, session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    assert fake.options == [DEFAULT_OPTIONS]
    [warning] = [e for e in logs if e["event"] == "chat_settings_unavailable"]
    assert warning["error"] == "ValidationError"
    assert "Zoë" not in repr(logs)


# -- the engine turns them into faster-whisper's options -----------------------------------------


@pytest.mark.parametrize(
    ("deployment", "options", "language", "hotwords"),
    [
        ("fr", DEFAULT_OPTIONS, "fr", None),  # no chat setting: WHISPER_LANGUAGE
        ("fr", DecodeOptions(language="de"), "de", None),  # the chat's overrides it
        ("fr", DecodeOptions(language="auto"), None, None),  # detect, whatever is deployed
        (None, DecodeOptions(hotwords="Kubernetes, Zoë"), None, "Kubernetes, Zoë"),
    ],
)
async def test_chat_options_become_the_models_language_and_hotwords(
    deployment: str | None, options: DecodeOptions, language: str | None, hotwords: str | None
) -> None:
    model = FakeWhisperModel()
    transcriber = with_fake_model(TranscriptionSettings(whisper_language=deployment), model)
    try:
        await transcriber.transcribe(Path("note.ogg"), options)
    finally:
        await transcriber.aclose()
    [call] = model.options
    assert call["language"] == language
    assert call.get("hotwords") == hotwords


def test_the_language_list_is_the_one_faster_whisper_accepts() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(WHISPER_LANGUAGES) == set(_LANGUAGE_CODES)


def test_english_only_models_are_told_by_name_or_folder(multilingual_model: Path) -> None:
    from transcription.engine import bundled_model_path

    assert english_only_model(None, bundled_model_path())  # the bundled tiny.en
    assert english_only_model("small.en")
    assert not english_only_model("large-v3")
    assert not english_only_model(str(multilingual_model))


# -- over the task queue: a job carries them to the worker ---------------------------------------


@pytest.mark.slow
async def test_a_jobs_chat_settings_reach_the_worker_over_redis(
    manager: FileSessionManager, redis: RedisServer
) -> None:
    settings = settings_for(redis.url)
    fake = ScriptedAudioTranscriber()
    await manager.update_chat_settings(1, lambda _: CHAT_SETTINGS)
    mine = await finished_session(manager, 1, b"text:mine")
    other = await finished_session(manager, 2, b"text:other")
    async with worker(settings, fake), bot_side(settings) as queue:
        for session in (mine, other):
            done = await transcribe_session(manager, queue, session.session_id, settings)
            assert done.state is SessionState.TRANSCRIBED
    assert fake.options == [CHAT_OPTIONS, DEFAULT_OPTIONS]


@pytest.mark.slow
@pytest.mark.timeout(360)
async def test_a_worker_process_writes_the_name_only_for_the_chat_that_taught_it(
    manager: FileSessionManager, redis: RedisServer, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    """The real ``python -m transcription.worker`` with tiny.en: the vocabulary travels in
    the job and the worker's model is told it (one model for every chat's vocabulary)."""
    worker_process = await start_worker(redis, tmp_path, workers)
    await manager.update_chat_settings(1, lambda s: s.with_words(["Kubernetes"]))
    taught = await finished_session(manager, 1, KUBERNETES.read_bytes())
    untaught = await finished_session(manager, 2, KUBERNETES.read_bytes())
    queue = QueueTranscriber(queue_settings_for(redis, concurrency=1))
    await queue.start()
    try:
        for session in (taught, untaught):
            await transcribe_session(manager, queue, session.session_id, queue.settings)
    finally:
        await queue.aclose()
    texts = [
        (manager.get_session_path(s.session_id) / "process/input.txt").read_text()
        for s in (taught, untaught)
    ]
    assert "Kubernetes" in texts[0]
    assert "kubernetes" not in texts[1].lower()
    started = [e for e in worker_process.events() if e.get("event") == "job_started"]
    assert [e["hotwords"] for e in started] == [len("Kubernetes"), 0]
    assert worker_process.count("model_evicted") == 0


# -- the real models ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_en() -> Iterator[WhisperTranscriber]:
    transcriber = WhisperTranscriber(TranscriptionSettings(whisper_cpu_threads=2))
    transcriber.load()
    yield transcriber
    asyncio.run(transcriber.aclose())


@pytest.mark.slow
async def test_the_vocabulary_makes_tiny_en_write_a_name_it_gets_wrong_untold(
    tiny_en: WhisperTranscriber,
) -> None:
    untold = await tiny_en.transcribe(KUBERNETES)
    told = await tiny_en.transcribe(KUBERNETES, DecodeOptions(hotwords="Kubernetes, Zoë Ortega"))
    assert "kubernetes" not in untold.text.lower()  # "Cuba meets"
    assert "kubernetes" in told.text.lower()
    assert "cluster" in told.text.lower()  # the rest of the note is still there
