"""The bot's handlers and middlewares, fed updates in-process through aiogram's dispatcher.

Replies and downloads go over real HTTP to the fake Bot API; no model is involved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update

from bot import status_texts, texts
from bot.app import build_dispatcher
from bot.config import BotSettings
from bot.services.collecting import CollectingStatus
from bot.services.ingest import IngestService
from bot.updates.ordering import ChatOrdering
from sessions import FileSessionManager, SessionState, Speaker, SpeakerKind
from tests.conftest import FIXTURES, silent_wav
from tests.fake_telegram import FakeTelegram, origin_channel

pytestmark = pytest.mark.timeout(30)

CHAT = USER = 1001
STRANGER = 555
MB = 1024 * 1024


@dataclass
class Harness:
    fake: FakeTelegram
    bot: Bot
    dp: Dispatcher
    manager: FileSessionManager
    sessions_dir: Path
    collecting: CollectingStatus

    async def feed(self, raw: dict[str, Any]) -> None:
        update = Update.model_validate(raw, context={"bot": self.bot})
        await self.dp.feed_update(self.bot, update)
        await self.collecting.wait_idle()  # the collecting message's edits, too

    async def push(self, update_id: int) -> dict[str, Any]:
        """Feed the update the fake just queued (as getUpdates would return it)."""
        [raw] = [u for u in self.fake.pending_updates() if u["update_id"] == update_id]
        await self.feed(raw)
        return raw

    async def text(self, text: str, *, chat: int = CHAT, user: int = USER) -> None:
        await self.push(self.fake.text(chat, user, text))

    async def voice(
        self,
        data: bytes | None = None,
        *,
        duration: int = 3,
        chat: int = CHAT,
        user: int = USER,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A voice note of ``duration`` seconds (silence, unless ``data`` is given)."""
        file_id = self.fake.add_file(silent_wav(duration) if data is None else data)
        return await self.push(
            self.fake.voice(chat, user, file_id=file_id, duration=duration, **kwargs)
        )

    def replies(self, chat: int = CHAT) -> list[str]:
        return self.fake.texts(chat)

    def session_folders(self) -> list[Path]:
        if not self.sessions_dir.is_dir():
            return []
        return sorted(p for p in self.sessions_dir.iterdir() if not p.name.startswith("."))


@pytest.fixture
async def harness(
    manager: FileSessionManager,
    sessions_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeTelegram,
    bot: Bot,
) -> Harness:
    monkeypatch.chdir(tmp_path)  # no .env
    settings = BotSettings(bot_token=fake.token, allowed_user_ids=str(USER))
    ingest = IngestService(
        bot, manager, max_download_bytes=settings.max_download_bytes, retry_delay=0.01
    )
    collecting = CollectingStatus(bot, manager, edit_interval=0)
    collecting.attach()
    dp = build_dispatcher(settings, manager, ingest, ChatOrdering(), collecting)
    return Harness(fake, bot, dp, manager, sessions_dir, collecting)


# -- access -------------------------------------------------------------------------------


async def test_stranger_gets_their_id_and_nothing_is_stored(harness: Harness) -> None:
    await harness.voice(chat=STRANGER, user=STRANGER)
    await harness.text("/start", chat=STRANGER, user=STRANGER)
    await harness.text("hello", chat=STRANGER, user=STRANGER)
    replies = harness.replies(STRANGER)
    assert replies == [texts.access_closed(STRANGER)]  # once, not at every message
    assert str(STRANGER) in replies[0]
    assert harness.fake.downloads == []
    assert harness.session_folders() == []
    assert await harness.manager.get_active_session(STRANGER) is None


async def test_sender_not_chat_decides_access(harness: Harness) -> None:
    group = -100200
    await harness.text("/start", chat=group, user=STRANGER)
    assert harness.replies(group) == [texts.access_closed(STRANGER)]
    await harness.push(harness.fake.text(group, USER, "/start", chat_type="group"))
    assert harness.replies(group)[-1] == texts.START
    assert await harness.manager.get_active_session(group) is not None


# -- commands -----------------------------------------------------------------------------


async def test_start_creates_a_session_and_replies(harness: Harness) -> None:
    await harness.text("/start")
    assert harness.replies() == [texts.START]
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert session.state is SessionState.COLLECTING
    assert session.audio_entries == []


async def test_start_finalizes_the_open_session(harness: Harness) -> None:
    await harness.voice()
    first = await harness.manager.get_active_session(CHAT)
    assert first is not None
    await harness.text("/start")
    old = await harness.manager.require_session(first.session_id)
    assert old.state is SessionState.TRANSCRIBING
    new = await harness.manager.get_active_session(CHAT)
    assert new is not None
    assert new.session_id != first.session_id


async def test_start_on_an_empty_session_keeps_it_open(harness: Harness) -> None:
    """An empty session is not sent through transcription, processing and delivery."""
    await harness.text("/start")
    first = await harness.manager.get_active_session(CHAT)
    assert first is not None
    await harness.text("/start")
    assert harness.replies() == [texts.START, texts.START]
    again = await harness.manager.get_active_session(CHAT)
    assert again is not None
    assert again.session_id == first.session_id
    assert [p.name for p in harness.session_folders()] == [first.session_id]
    assert await harness.manager.sessions_in_states(SessionState.TRANSCRIBING) == []


async def test_done_with_nothing(harness: Harness) -> None:
    await harness.text("/done")
    assert harness.replies() == [texts.NOTHING_TO_FINISH]
    assert "nothing to transcribe" in texts.NOTHING_TO_FINISH
    await harness.text("/start")
    await harness.text("/done")
    assert harness.replies()[-1] == texts.NOTHING_TO_FINISH
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert session.state is SessionState.COLLECTING  # an empty session stays open


async def test_done_with_notes_finalizes(harness: Harness) -> None:
    await harness.voice(duration=3)
    await harness.voice(duration=4)
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    replies_before = len(harness.replies())
    await harness.text("/done")
    done = await harness.manager.require_session(session.session_id)
    assert done.state is SessionState.TRANSCRIBING
    assert done.finalized_at is not None
    assert [e.sequence for e in done.audio_entries] == [1, 2]
    assert await harness.manager.get_active_session(CHAT) is None
    # No new message: the session's own message shows the progress, without its button.
    assert harness.replies()[replies_before:] == [texts.transcribing(2, 0)]
    [collecting] = [m for m in harness.fake.messages(CHAT) if m.get("from", {}).get("is_bot")]
    assert "reply_markup" not in collecting


async def test_status_lists_the_open_and_recent_sessions(harness: Harness) -> None:
    await harness.text("/status")
    assert harness.replies()[-1].startswith(
        status_texts.status(None, [])
    )  # then the chat's settings
    assert "No session is open" in harness.replies()[-1]

    await harness.voice(duration=3)
    await harness.text("/done")
    await harness.voice(duration=65)
    active = await harness.manager.get_active_session(CHAT)
    assert active is not None
    await harness.text("/status")
    status = harness.replies()[-1]
    # Sessions are named by when they began (and their first words once transcribed).
    opened = f"{active.created_at:%a} {active.created_at.day} {active.created_at:%b, %H:%M}"
    assert f"Open session: {opened}; 1 note, 1:05 (times in UTC)." in status
    assert "\nRecent sessions:\n" in status
    assert status.count("times in UTC") == 1  # the zone said once
    assert ": transcribing, 1 note, 0:03" in status
    assert active.session_id not in status  # no UTC id as a name
    assert status.count("1 note, 1:05") == 1  # the open one is not listed twice


async def test_help(harness: Harness) -> None:
    """An English-only model: /help, like the menu, offers no /lang."""
    await harness.text("/help")
    assert harness.replies() == [texts.help_text(multilingual=False)]
    assert "/lang" not in harness.replies()[0]
    assert "/lang" in texts.HELP  # the full text, for a multilingual model


# -- audio --------------------------------------------------------------------------------


async def test_voice_without_session_opens_one(harness: Harness) -> None:
    first = silent_wav(3)
    await harness.voice(first, duration=3)
    assert harness.replies() == [texts.collecting(1, 3)]
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    [entry] = session.audio_entries
    assert entry.filename == "001_audio.ogg"
    assert entry.kind == "voice"
    folder = harness.manager.get_session_path(session.session_id)
    assert (folder / "audio" / "001_audio.ogg").read_bytes() == first
    assert [p.name for p in (folder / "audio").iterdir()] == ["001_audio.ogg"]  # no .part

    await harness.voice(duration=62)
    assert harness.replies()[-1] == texts.collecting(2, 65)


async def test_group_members_and_forwards_are_recorded_as_speakers(harness: Harness) -> None:
    """Each entry records whose voice it is: the member who sent it, or a forward's
    original sender (by id and name), and whether it was forwarded."""
    group = -100300
    await harness.voice(chat=group, chat_type="supergroup", first_name="Anna", last_name="Li")
    news = origin_channel(-100900, "Daily News", 17, signature="Eve")
    await harness.voice(chat=group, chat_type="supergroup", forward_origin=news)
    session = await harness.manager.get_active_session(group)
    assert session is not None
    first, second = session.audio_entries
    assert first.speaker == Speaker(name="Anna Li", kind=SpeakerKind.USER, user_id=USER)
    assert (first.forwarded, first.kind, first.original_filename) == (False, "voice", None)
    assert second.speaker == Speaker(
        name="Daily News", kind=SpeakerKind.CHANNEL, chat_id=-100900, signature="Eve"
    )
    assert second.forwarded is True


async def test_duplicate_message_is_stored_once_and_acked_once(harness: Harness) -> None:
    raw = await harness.voice(duration=3)
    await harness.feed(raw)  # the same update again (redelivered)
    again = {**raw, "update_id": raw["update_id"] + 100}
    await harness.feed(again)  # the same message in another update
    assert harness.replies() == [texts.collecting(1, 3)]
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert len(session.audio_entries) == 1
    assert len(harness.fake.downloads) == 1


async def test_audio_file_keeps_its_extension(harness: Harness) -> None:
    mp3 = (FIXTURES / "speech_01.mp3").read_bytes()
    file_id = harness.fake.add_file(mp3, file_path="music/file_1.mp3")
    await harness.push(
        harness.fake.audio(CHAT, USER, file_id=file_id, duration=5, file_name="talk.MP3")
    )
    assert harness.replies() == [texts.collecting(1, 3.312)]  # measured, not as declared
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    [entry] = session.audio_entries
    assert entry.filename == "001_audio.mp3"
    assert (entry.kind, entry.original_filename) == ("audio", "talk.MP3")
    folder = harness.manager.get_session_path(session.session_id) / "audio"
    assert (folder / "001_audio.mp3").read_bytes() == mp3


async def test_video_note_is_taken(harness: Harness) -> None:
    video = (FIXTURES / "speech_02.mp4").read_bytes()
    file_id = harness.fake.add_file(video, file_path="video_notes/file_1.mp4")
    await harness.push(harness.fake.video_note(CHAT, USER, file_id=file_id, duration=7))
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    [entry] = session.audio_entries
    assert (entry.filename, entry.kind) == ("001_audio.mp4", "video_note")


async def test_too_long_is_refused_without_download(harness: Harness) -> None:
    limit = harness.manager.config.max_audio_duration_seconds
    await harness.voice(duration=limit + 35)
    [reply] = harness.replies()
    assert reply == texts.too_long(limit + 35, limit)
    assert "0:35 over" in reply
    assert harness.fake.downloads == []
    session = await harness.manager.get_active_session(CHAT)
    assert session is None or session.audio_entries == []


async def test_too_big_is_refused_without_download(harness: Harness) -> None:
    await harness.voice(duration=5, file_size=25 * MB)
    [reply] = harness.replies()
    assert "5.0 MB over" in reply
    assert harness.fake.downloads == []
    session = await harness.manager.get_active_session(CHAT)
    assert session is None or session.audio_entries == []


async def test_a_refusal_does_not_take_a_sequence_number(harness: Harness) -> None:
    await harness.voice(duration=3)
    await harness.voice(duration=5, file_size=25 * MB)
    await harness.voice(duration=4)
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert [e.filename for e in session.audio_entries] == ["001_audio.ogg", "002_audio.ogg"]


async def test_recording_sent_as_a_file_is_taken_like_an_audio_message(harness: Harness) -> None:
    """A WAV with its MIME type, and an M4A a client sent as octet-stream: both stored,
    under names keeping their extension, measured after download like any note."""
    wav_bytes = (FIXTURES / "speech_01.wav").read_bytes()
    wav = harness.fake.add_file(wav_bytes, file_path="documents/file_1.wav")
    await harness.push(
        harness.fake.document(
            CHAT, USER, file_id=wav, file_name="Meeting.WAV", mime_type="audio/x-wav"
        )
    )
    m4a_bytes = (FIXTURES / "speech_01.m4a").read_bytes()
    m4a = harness.fake.add_file(m4a_bytes, file_path="documents/file_2")
    await harness.push(
        harness.fake.document(
            CHAT, USER, file_id=m4a, file_name="memo.m4a", mime_type="application/octet-stream"
        )
    )
    assert harness.replies() == [texts.collecting(1, 3.205), texts.collecting(2, 6.475)]
    session = await harness.manager.get_active_session(CHAT)
    assert session is not None
    assert [(e.filename, e.kind) for e in session.audio_entries] == [
        ("001_audio.wav", "document"),
        ("002_audio.m4a", "document"),
    ]
    folder = harness.manager.get_session_path(session.session_id) / "audio"
    assert (folder / "001_audio.wav").read_bytes() == wav_bytes


async def test_recording_file_has_the_same_size_limit(harness: Harness) -> None:
    file_id = harness.fake.add_file(b"big")
    await harness.push(
        harness.fake.document(CHAT, USER, file_id=file_id, file_name="long.mp3", file_size=25 * MB)
    )
    [reply] = harness.replies()
    assert reply == texts.too_big(25 * MB, 20 * MB)
    assert harness.fake.downloads == []


async def test_other_files_are_told_what_is_accepted(harness: Harness) -> None:
    for name in ("report.pdf", "notes.txt", "archive"):
        file_id = harness.fake.add_file(b"%PDF not audio")
        await harness.push(harness.fake.document(CHAT, USER, file_id=file_id, file_name=name))
    assert harness.replies() == [texts.NOT_AUDIO_FILE] * 3
    assert "voice note" in texts.NOT_AUDIO_FILE
    assert "as a file" in texts.NOT_AUDIO_FILE
    assert harness.fake.downloads == []
    assert harness.session_folders() == []


# -- everything else ----------------------------------------------------------------------


async def test_plain_text_gets_the_hint(harness: Harness) -> None:
    await harness.text("hello bot")
    await harness.text("/unknown")
    assert harness.replies() == [texts.HINT, texts.HINT]
    assert harness.session_folders() == []


async def test_photo_and_sticker_get_the_hint(harness: Harness) -> None:
    file_id = harness.fake.add_file(b"jpeg")
    await harness.push(harness.fake.photo(CHAT, USER, file_id=file_id))
    sticker = {
        "file_id": "CAACAgIAAxkBAAIBsticker",
        "file_unique_id": "AgADsticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    await harness.feed(
        {
            "update_id": 999,
            "message": {
                "message_id": 99,
                "from": {"id": USER, "is_bot": False, "first_name": "User"},
                "chat": {"id": CHAT, "type": "private", "first_name": "User"},
                "date": int(time.time()),
                "sticker": sticker,
            },
        }
    )
    assert harness.replies() == [texts.HINT] * 2
    assert harness.fake.downloads == []
    assert harness.session_folders() == []


def test_dispatcher_can_be_built_twice(manager: FileSessionManager) -> None:
    """Routers are made per dispatcher, so no router state leaks between builds."""
    settings = BotSettings(bot_token="123456:" + "a" * 35, allowed_user_ids="1")
    bot = Bot(settings.bot_token.get_secret_value())
    ingest = IngestService(bot, manager, max_download_bytes=1)
    collecting = CollectingStatus(bot, manager)
    first = build_dispatcher(settings, manager, ingest, ChatOrdering(), collecting)
    second = build_dispatcher(settings, manager, ingest, ChatOrdering(), collecting)
    assert first.sub_routers[0] is not second.sub_routers[0]
