"""Taking a voice note (or audio file, or round video) into the chat's session, durably.

Checks limits before downloading, takes the entry's sequence number in the order the
messages were sent, downloads under a temporary name and renames, and only then records
the entry. Idempotent on the Telegram message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.types import Message

from bot import texts
from bot.updates.ordering import Ticket
from sessions import AudioEntry, FileSessionManager, Session, SessionEvent, SessionImmutableError
from sessions import events as ev
from sessions.layout import AUDIO_DIR, audio_filename

_log = structlog.get_logger("bot.ingest")


@dataclass(frozen=True)
class IncomingAudio:
    """The parts of a Telegram message that carry audio, whatever its kind."""

    kind: str
    file_id: str
    file_unique_id: str
    duration_seconds: float
    file_size: int | None
    mime_type: str | None
    extension: str

    @classmethod
    def from_message(cls, message: Message) -> IncomingAudio | None:
        if message.voice is not None:
            v = message.voice
            return cls(
                "voice", v.file_id, v.file_unique_id, v.duration, v.file_size, v.mime_type, ".ogg"
            )
        if message.audio is not None:
            a = message.audio
            ext = _extension(a.file_name, a.mime_type, default=".mp3")
            return cls(
                "audio", a.file_id, a.file_unique_id, a.duration, a.file_size, a.mime_type, ext
            )
        if message.video_note is not None:
            n = message.video_note
            return cls(
                "video_note",
                n.file_id,
                n.file_unique_id,
                n.duration,
                n.file_size,
                "video/mp4",
                ".mp4",
            )
        return None


def _extension(file_name: str | None, mime_type: str | None, *, default: str) -> str:
    if file_name and "." in file_name:
        ext = "." + file_name.rsplit(".", 1)[1].lower()
        if ext[1:].isalnum() and len(ext) <= 6:
            return ".ogg" if ext == ".oga" else ext
    guessed = mimetypes.guess_extension(mime_type or "") if mime_type else None
    return guessed or default


@dataclass(frozen=True)
class IngestResult:
    session: Session
    entry: AudioEntry
    duplicate: bool


class IngestService:
    """Stores incoming audio in the chat's active session."""

    def __init__(
        self,
        bot: Bot,
        manager: FileSessionManager,
        *,
        max_download_bytes: int,
        download_attempts: int = 4,
        retry_delay: float = 0.5,
    ) -> None:
        self._bot = bot
        self._manager = manager
        self.max_download_bytes = max_download_bytes
        self.max_duration_seconds = manager.config.max_audio_duration_seconds
        self._attempts = download_attempts
        self._retry_delay = retry_delay
        # chat id -> its COLLECTING session, so a burst of notes does not look it up 50 times.
        # Dropped when the session is finalized (see attach); a stale entry is caught anyway.
        self._active: dict[int, str] = {}

    def attach(self) -> None:
        """Forget a chat's cached session as soon as it is finalized."""
        self._manager.events.subscribe(self._forget, ev.FINALIZED)

    async def _forget(self, event: SessionEvent) -> None:
        if event.chat_id is not None and self._active.get(event.chat_id) == event.session_id:
            del self._active[event.chat_id]

    def refusal(self, audio: IncomingAudio) -> str | None:
        """Why this audio cannot be taken (duration or declared size), or None."""
        if audio.duration_seconds > self.max_duration_seconds:
            return texts.too_long(audio.duration_seconds, self.max_duration_seconds)
        if audio.file_size is not None and audio.file_size > self.max_download_bytes:
            return texts.too_big(audio.file_size, self.max_download_bytes)
        return None

    async def ingest(
        self, chat_id: int, message_id: int, audio: IncomingAudio, ticket: Ticket | None
    ) -> IngestResult:
        """Download ``audio`` into the chat's session and record it (once per message)."""
        try:
            session_id = self._active.get(chat_id)
            if session_id is None:
                session_id = (await self._manager.ensure_active_session(chat_id)).session_id
                self._active[chat_id] = session_id
            # Started, not awaited: the reservation joins the session's write queue before
            # the next note of the chat is admitted, so numbers follow the message order and
            # a burst of notes is reserved in a few writes rather than one each.
            reservation = asyncio.ensure_future(self._manager.reserve(session_id, message_id))
        finally:
            if ticket is not None:
                ticket.admit()
        try:
            sequence, session = await reservation
        except SessionImmutableError:
            # The cached session was finished elsewhere (not through this bot's events).
            self._active.pop(chat_id, None)
            session = await self._manager.ensure_active_session(chat_id)
            self._active[chat_id] = session.session_id
            sequence, session = await self._manager.reserve(session.session_id, message_id)
        existing = session.entry_for_message(message_id)
        if existing is not None:
            return IngestResult(session, existing, duplicate=True)

        filename = audio_filename(sequence, audio.extension)
        destination = self._manager.get_session_path(session.session_id) / AUDIO_DIR / filename
        await self._download(audio.file_id, destination)
        entry = AudioEntry(
            sequence=sequence,
            filename=filename,
            duration_seconds=float(audio.duration_seconds),
            message_id=message_id,
            file_id=audio.file_id,
            file_unique_id=audio.file_unique_id,
            mime_type=audio.mime_type,
            file_size=audio.file_size,
            kind=audio.kind,
        )
        session = await self._manager.add_audio(session.session_id, entry)
        recorded = session.entry_for_message(message_id)
        assert recorded is not None
        return IngestResult(session, recorded, duplicate=False)

    async def _download(self, file_id: str, destination: Path) -> None:
        """Download to a hidden temporary file, fsync, and rename into place."""
        temporary = destination.with_name(f".{destination.name}.part")
        for attempt in range(1, self._attempts + 1):
            try:
                await self._bot.download(file_id, destination=temporary)
                break
            except (
                aiohttp.ClientError,
                TimeoutError,
                TelegramNetworkError,
                TelegramServerError,
            ) as exc:
                if attempt >= self._attempts:
                    await asyncio.to_thread(_remove, temporary)
                    raise
                delay = self._retry_delay * 2 ** (attempt - 1)
                if isinstance(exc, aiohttp.ClientResponseError) and exc.status == 429:
                    delay = max(delay, 1.0)
                _log.warning(
                    "download_retry", attempt=attempt, delay_seconds=delay, error=repr(exc)
                )
                await asyncio.sleep(delay)
        await asyncio.to_thread(_commit, temporary, destination)


def _commit(temporary: Path, destination: Path) -> None:
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, destination)
    fd = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
