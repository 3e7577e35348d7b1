"""Shared fixtures. Tests never reach the internet: model hubs are switched off here."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from sessions import (
    AudioEntry,
    Event,
    EventBus,
    FileSessionManager,
    FileSessionStorage,
    Session,
    SessionConfig,
    SessionEvent,
)
from sessions.layout import AUDIO_DIR, audio_filename

if TYPE_CHECKING:
    from tests.llm_server import LlamaServer

FIXTURES = Path(__file__).parent / "fixtures"

TIMEOUT_SCALE = float(os.environ.get("TEST_TIMEOUT_SCALE", "3"))
"""Every wait of a test for the bot is an upper bound, never a measurement: it is multiplied
by this, so a machine whose cores are all busy (CI, ``stress-ng``) is slow, not failing."""


def silent_wav(seconds: float, *, rate: int = 8000) -> bytes:
    """A real recording of ``seconds`` of silence (8-bit mono WAV, 8 KB a second): the bot
    measures it at exactly that length, where made-up bytes would be refused as no audio."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(rate)
        out.writeframes(b"\x80" * round(seconds * rate))
    return buffer.getvalue()


class EventRecorder:
    """Collects every event published on a bus."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[SessionEvent] = []
        bus.subscribe(self._record)

    async def _record(self, event: Event) -> None:
        self.events.append(event.to_session_event())  # the contract's serialised form

    def types(self, session_id: str | None = None) -> list[str]:
        return [
            e.event_type for e in self.events if session_id is None or e.session_id == session_id
        ]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask of 0, so that only the modes the code asks for explicitly keep files private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def sessions_dir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def storage(sessions_dir: Path) -> FileSessionStorage:
    return FileSessionStorage(sessions_dir)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def recorder(bus: EventBus) -> EventRecorder:
    return EventRecorder(bus)


class SaveCounter:
    """Counts the metadata writes of a storage (to see group commit at work)."""

    def __init__(self, storage: FileSessionStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real_save = storage.save

        def counting_save(session: Session) -> None:
            self.count += 1
            real_save(session)

        monkeypatch.setattr(storage, "save", counting_save)


@pytest.fixture
def saves(storage: FileSessionStorage, monkeypatch: pytest.MonkeyPatch) -> SaveCounter:
    return SaveCounter(storage, monkeypatch)


@pytest.fixture
def manager(storage: FileSessionStorage, sessions_dir: Path, bus: EventBus) -> FileSessionManager:
    config = SessionConfig(base_dir=sessions_dir, max_audio_duration_seconds=1200)
    return FileSessionManager(storage, config, events=bus)


async def add_note(
    manager: FileSessionManager,
    session: Session,
    *,
    message_id: int | None = None,
    duration: float = 2.0,
    data: bytes = b"OggS-not-really-audio",
    **fields: Any,
) -> Session:
    """Reserve a sequence, write a file into audio/ and record it, as the bot does;
    ``fields`` are more of the entry's (its speaker, say)."""
    sequence = await manager.reserve_sequence(session.session_id, message_id)
    name = audio_filename(sequence)
    path = manager.get_session_path(session.session_id) / AUDIO_DIR / name
    path.write_bytes(data)
    entry = AudioEntry(
        sequence=sequence, filename=name, duration_seconds=duration, message_id=message_id, **fields
    )
    return await manager.add_audio(session.session_id, entry)


@pytest.fixture(scope="session")
def multilingual_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a multilingual Whisper model (base), put together once per run."""
    from tests.multilingual_model import assemble

    return assemble(tmp_path_factory.mktemp("whisper-base"))


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real OpenAI-compatible server (llama.cpp, SmolLM2-135M) on a loopback port, started
    once per run and shared: ``llm_server.base_url`` is the LLM_BASE_URL. A test may stop,
    kill and restart it (``await llm_server.astop()`` ...): the next ``llm_url`` brings it back."""
    from tests.llm_server import LlamaServer, require_model

    server = LlamaServer(require_model(), tmp_path_factory.mktemp("llm-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm_url(llm_server: LlamaServer) -> str:
    """The shared server's base URL (``http://127.0.0.1:PORT/v1``), up and answering."""
    llm_server.ensure_running()
    return llm_server.base_url
