"""Notes that cannot be stored are never dropped in silence, and leave nothing behind.

The bot's dispatcher is fed updates in-process; getFile and downloads go over real HTTP to the
fake Bot API. Each test checks what the user is told (a reply to the note), that no entry and
no file is left, and that the next note still gets the next number.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot import texts
from bot.app import build_dispatcher
from bot.config import BotSettings
from bot.services.collecting import CollectingStatus
from bot.services.ingest import IngestService, download_timeout
from bot.updates.ordering import ChatOrdering
from sessions import AudioWriter, FileSessionManager, FileSessionStorage, Session, SessionConfig
from tests.bot.conftest import close_bot, make_bot
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram
from transcription.probe import probe_duration

pytestmark = pytest.mark.timeout(30)

CHAT = USER = 1001
MAX_SECONDS = 10
MAX_BYTES = 40_000  # speech_04.ogg (46 KB) is over it, speech_03.ogg (35 KB) under
ATTEMPTS = 3


@dataclass
class Harness:
    fake: FakeTelegram
    bot: Bot
    dp: Dispatcher
    manager: FileSessionManager
    ingest: IngestService
    collecting: CollectingStatus

    async def voice(self, data: bytes, *, duration: int = 3, **kwargs: Any) -> int:
        """Send a voice note through the dispatcher; returns its message id."""
        file_id = self.fake.add_file(data)
        update_id = self.fake.voice(CHAT, USER, file_id=file_id, duration=duration, **kwargs)
        [raw] = [u for u in self.fake.pending_updates() if u["update_id"] == update_id]
        await self.dp.feed_update(self.bot, Update.model_validate(raw, context={"bot": self.bot}))
        await self.collecting.wait_idle()  # the collecting message's edits, too
        return int(raw["message"]["message_id"])

    def replies(self) -> list[str]:
        return self.fake.texts(CHAT)

    def reply_to(self, message_id: int) -> str:
        """The one text the bot sent in reply to ``message_id``."""
        [text] = [
            m["text"]
            for m in self.fake.messages(CHAT)
            if m.get("reply_to_message", {}).get("message_id") == message_id and "text" in m
        ]
        return str(text)

    async def session(self) -> Session:
        session = await self.manager.get_active_session(CHAT)
        assert session is not None
        return session

    async def audio_files(self) -> list[str]:
        """Every name in the open session's audio/ folder, hidden ones included."""
        folder = self.manager.get_session_path((await self.session()).session_id) / "audio"
        return sorted(p.name for p in folder.iterdir())


@pytest.fixture
async def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeTelegram
) -> AsyncIterator[Harness]:
    monkeypatch.chdir(tmp_path)  # no .env
    config = SessionConfig(base_dir=tmp_path / "sessions", max_audio_duration_seconds=MAX_SECONDS)
    manager = FileSessionManager(FileSessionStorage(config.base_dir), config)
    settings = BotSettings(bot_token=fake.token, allowed_user_ids=str(USER))
    bot = make_bot(fake)
    ingest = IngestService(
        bot, manager, max_download_bytes=MAX_BYTES, download_attempts=ATTEMPTS, retry_delay=0.01
    )
    collecting = CollectingStatus(bot, manager, edit_interval=0)
    collecting.attach()
    dp = build_dispatcher(settings, manager, ingest, ChatOrdering(), collecting)
    yield Harness(fake, bot, dp, manager, ingest, collecting)
    await close_bot(bot)


SPEECH_01 = (FIXTURES / "speech_01.ogg").read_bytes()  # 3.2 s
SPEECH_03 = (FIXTURES / "speech_03.ogg").read_bytes()  # 11.0 s
SPEECH_04 = (FIXTURES / "speech_04.ogg").read_bytes()  # 15.0 s


async def assert_next_note_is_number_one(h: Harness) -> None:
    """Nothing of the refused note is left: the next one is note 1, alone in audio/."""
    await h.voice(SPEECH_01, duration=3)
    assert h.replies()[-1] == texts.collecting(1, 3)
    session = await h.session()
    assert [(e.sequence, e.filename) for e in session.audio_entries] == [(1, "001_audio.ogg")]
    assert session.reserved_sequences == {}
    assert await h.audio_files() == ["001_audio.ogg"]


async def test_download_failing_for_good_is_told_to_the_user(harness: Harness) -> None:
    harness.fake.fail_next("file", status=502, count=ATTEMPTS)
    note = await harness.voice(SPEECH_01)
    reply = harness.reply_to(note)
    assert reply == texts.not_saved_download_failed(ATTEMPTS)
    assert reply.startswith("I could not save this note: downloading it from Telegram failed")
    assert len(harness.fake.downloads) == ATTEMPTS
    assert (await harness.session()).audio_entries == []
    assert await harness.audio_files() == []
    await assert_next_note_is_number_one(harness)


async def test_transient_download_errors_are_retried(harness: Harness) -> None:
    harness.fake.fail_next("file", status=502, count=ATTEMPTS - 1)
    await harness.voice(SPEECH_01, duration=3)
    assert harness.replies() == [texts.collecting(1, 3)]
    assert len(harness.fake.downloads) == ATTEMPTS
    assert await harness.audio_files() == ["001_audio.ogg"]


async def test_telegram_refusing_a_file_without_size(harness: Harness) -> None:
    """getFile answers "file is too big" for a note whose message declared no size."""
    harness.fake.max_download_size = len(SPEECH_01) - 1
    harness.fake.omit_file_sizes()
    note = await harness.voice(SPEECH_01)
    assert harness.reply_to(note) == texts.NOT_SAVED_TELEGRAM_TOO_BIG
    assert "20 MB" in texts.NOT_SAVED_TELEGRAM_TOO_BIG
    assert harness.fake.downloads == []
    assert (await harness.session()).audio_entries == []
    harness.fake.max_download_size = 10**8
    await assert_next_note_is_number_one(harness)


async def test_undeclared_size_is_capped_while_streaming(harness: Harness) -> None:
    harness.fake.omit_file_sizes()
    note = await harness.voice(SPEECH_04)  # 46 KB, over MAX_BYTES, announced nowhere
    assert harness.reply_to(note) == texts.too_big_unannounced(MAX_BYTES)
    assert len(harness.fake.downloads) == 1  # refused while it was arriving, not retried
    assert (await harness.session()).audio_entries == []
    assert await harness.audio_files() == []  # the partial file is gone too
    await assert_next_note_is_number_one(harness)


async def test_size_known_only_to_getfile_is_refused_before_downloading(
    harness: Harness,
) -> None:
    file_id = harness.fake.add_file(SPEECH_04)
    update_id = harness.fake.voice(CHAT, USER, file_id=file_id, duration=5, message_id=900)
    [raw] = [u for u in harness.fake.pending_updates() if u["update_id"] == update_id]
    del raw["message"]["voice"]["file_size"]  # the message declares no size; getFile does
    await harness.dp.feed_update(
        harness.bot, Update.model_validate(raw, context={"bot": harness.bot})
    )
    assert harness.reply_to(900) == texts.too_big(len(SPEECH_04), MAX_BYTES)
    assert harness.fake.downloads == []


async def test_measured_duration_beats_the_declared_one(harness: Harness) -> None:
    note = await harness.voice(SPEECH_03, duration=5)  # really 11.0 s, over the 10 s limit
    reply = harness.reply_to(note)
    measured = probe_duration(FIXTURES / "speech_03.ogg")
    assert measured is not None
    assert reply == texts.too_long(measured, MAX_SECONDS)
    assert "0:11 long; the limit is 0:10" in reply
    assert (await harness.session()).audio_entries == []
    assert await harness.audio_files() == []
    await assert_next_note_is_number_one(harness)


async def test_measured_duration_is_stored(harness: Harness) -> None:
    await harness.voice(SPEECH_01, duration=9)  # declares 9 s, holds 3.2 s
    assert harness.replies() == [texts.collecting(1, 3)]
    [entry] = (await harness.session()).audio_entries
    assert entry.duration_seconds == pytest.approx(3.21, abs=0.01)
    assert (entry.model_extra or {})["declared_duration_seconds"] == 9


async def test_a_file_with_no_readable_audio_is_refused_at_once(harness: Harness) -> None:
    """A damaged file could only fail after /done: it is refused as it arrives, with its
    own reply, no ✍, nothing stored, and the session goes on."""
    note = await harness.voice((FIXTURES / "corrupt.ogg").read_bytes(), duration=4)
    assert harness.reply_to(note) == texts.NO_READABLE_AUDIO
    assert harness.replies() == [texts.NO_READABLE_AUDIO]  # no collecting message for it
    assert harness.fake.reactions(CHAT) == {}
    await assert_next_note_is_number_one(harness)


@pytest.mark.parametrize(
    ("code", "expected"),
    [(errno.ENOSPC, texts.NOT_SAVED_DISK_FULL), (errno.EIO, texts.NOT_SAVED_DISK_ERROR)],
)
async def test_a_failing_disk_while_downloading_is_told(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, code: int, expected: str
) -> None:
    async def failing_write(writer: AudioWriter, data: bytes) -> None:
        raise OSError(code, "No space left on device", "/srv/secret/path")

    with monkeypatch.context() as patch:
        patch.setattr(AudioWriter, "write", failing_write)
        note = await harness.voice(SPEECH_01)
    reply = harness.reply_to(note)
    assert reply == expected
    assert "/srv" not in reply
    assert "Errno" not in reply
    assert "No space left" not in reply
    assert len(harness.fake.downloads) == 1  # a disk error is not a network error: no retry
    assert (await harness.session()).audio_entries == []
    assert await harness.audio_files() == []
    await assert_next_note_is_number_one(harness)


async def test_a_full_disk_when_recording_the_entry_is_told(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.voice(SPEECH_01, duration=3)  # opens the session
    storage = harness.manager.storage
    real_save = storage.save

    def save(session: Session) -> None:
        if len(session.audio_entries) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(session)

    with monkeypatch.context() as patch:
        patch.setattr(storage, "save", save)
        note = await harness.voice(SPEECH_01)
    assert harness.reply_to(note) == texts.NOT_SAVED_DISK_FULL
    session = await harness.session()
    assert [e.sequence for e in session.audio_entries] == [1]
    assert session.reserved_sequences == {}
    assert session.next_sequence == 2  # the number was given back
    assert await harness.audio_files() == ["001_audio.ogg"]  # the renamed file went too


async def test_a_full_disk_when_opening_the_session_is_told(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def save(session: Session) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(harness.manager.storage, "save", save)
        note = await harness.voice(SPEECH_01)
    assert harness.reply_to(note) == texts.NOT_SAVED_DISK_FULL
    assert harness.fake.downloads == []
    await assert_next_note_is_number_one(harness)


async def test_an_unexpected_error_is_told_not_swallowed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(session_id: str, entry: Any) -> Session:
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(harness.manager, "add_audio", broken)
        note = await harness.voice(SPEECH_01)
    assert harness.reply_to(note) == texts.NOT_SAVED_UNEXPECTED
    assert await harness.audio_files() == []
    await assert_next_note_is_number_one(harness)


async def test_download_timeout_grows_with_the_file_size(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert download_timeout(0) == 30
    assert download_timeout(20 * 1024 * 1024) >= 200  # 20 MB at 100 KB/s, plus the base
    timeouts: list[int] = []
    real_stream = harness.bot.session.stream_content

    def spy(url: str, **kwargs: Any) -> Any:
        timeouts.append(kwargs["timeout"])
        return real_stream(url, **kwargs)

    monkeypatch.setattr(harness.bot.session, "stream_content", spy)
    harness.ingest.max_download_bytes = 10 * 1024 * 1024
    await harness.voice(SPEECH_01, duration=3)
    harness.fake.omit_file_sizes()
    await harness.voice(SPEECH_01, duration=3)
    assert harness.replies() == [texts.collecting(1, 3), texts.collecting(2, 6)]
    # Known size: the file's; unknown: as if it were as large as allowed.
    assert timeouts == [30 + 1, 30 + 103]  # 9.6 KB and 10 MiB at 100 KiB/s, rounded up


def test_the_refusal_texts_name_no_internals() -> None:
    for text in (
        texts.NOT_SAVED_TELEGRAM_TOO_BIG,
        texts.NOT_SAVED_TELEGRAM_REFUSED,
        texts.NOT_SAVED_DISK_FULL,
        texts.NOT_SAVED_DISK_ERROR,
        texts.NOT_SAVED_UNEXPECTED,
        texts.not_saved_download_failed(4),
    ):
        assert text.startswith("I could not save this note: ")
        assert "/" not in text
        assert "rrno" not in text
        assert len(text) < 200
