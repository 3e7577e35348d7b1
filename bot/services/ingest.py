"""Taking a voice note (or audio file, or round video) into the chat's session, durably.

Checks the declared limits before downloading, takes the entry's sequence number in the
order the messages were sent, streams the file under a temporary name with the byte limit
enforced as it arrives, measures the real duration (a file with no audio that can be read is
refused there: it could only fail at transcription), renames, and only then records the
entry. Idempotent on the Telegram message id. A note that cannot be stored raises
:class:`NoteNotSaved`, whose text tells the user why; its reserved number is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import aiohttp
import structlog
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message

from bot import texts
from bot.services.audio_files import file_extension, is_audio_file
from bot.services.speakers import NoteOrigin, note_origin
from bot.updates.ordering import Ticket
from sessions import (
    AudioEntry,
    AudioUpload,
    CorruptSessionError,
    Event,
    InvalidStateError,
    Session,
    SessionCreated,
    SessionDeleted,
    SessionManager,
    SessionNotFoundError,
    StateChanged,
)
from transcription.probe import measure_duration

_log = structlog.get_logger("bot.ingest")

# A download may take this long plus the time the slowest link we still serve needs for its
# bytes: aiogram's fixed 30 s total would cut off a 20 MB file on anything under ~700 KB/s.
DOWNLOAD_BASE_TIMEOUT_SECONDS = 30
SLOWEST_LINK_BYTES_PER_SECOND = 100 * 1024
CHUNK_BYTES = 64 * 1024
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# What reserving a number in a chat's cached session raises once that session can take no
# more notes (finished, cancelled, deleted, unreadable): the chat's open session is looked
# up again, and a new one opened if it has none.
_NOT_COLLECTING = (InvalidStateError, SessionNotFoundError, CorruptSessionError)
_TRANSIENT = (
    aiohttp.ClientError,
    TimeoutError,
    TelegramNetworkError,
    TelegramServerError,
    TelegramRetryAfter,
)


def download_timeout(size: int) -> int:
    """Total seconds allowed to download ``size`` bytes (grows with the size)."""
    return DOWNLOAD_BASE_TIMEOUT_SECONDS + math.ceil(size / SLOWEST_LINK_BYTES_PER_SECOND)


class NoteNotSaved(Exception):
    """The note was not stored, for good; ``reply`` says why in words for the chat."""

    def __init__(self, reply: str, *, code: str) -> None:
        super().__init__(code)
        self.reply = reply
        self.code = code


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
    file_name: str | None = None
    origin: NoteOrigin = field(default_factory=NoteOrigin)

    @classmethod
    def from_message(cls, message: Message) -> IncomingAudio | None:
        """The audio ``message`` carries and who speaks in it, or None when it carries
        none (a photo, a text, a document that is not audio or video)."""
        media = cls._media(message)
        return None if media is None else replace(media, origin=note_origin(message))

    @classmethod
    def _media(cls, message: Message) -> IncomingAudio | None:
        if message.voice is not None:
            v = message.voice
            return cls(
                "voice", v.file_id, v.file_unique_id, v.duration, v.file_size, v.mime_type, ".ogg"
            )
        if message.audio is not None:
            a = message.audio
            ext = file_extension(a.file_name, a.mime_type, default=".mp3")
            return cls(
                "audio",
                a.file_id,
                a.file_unique_id,
                a.duration,
                a.file_size,
                a.mime_type,
                ext,
                a.file_name,
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
        if message.document is not None:
            d = message.document
            if not is_audio_file(d.file_name, d.mime_type):
                return None
            # A document declares no length: 0 here, measured once it is downloaded.
            ext = file_extension(d.file_name, d.mime_type, default=".bin")
            return cls(
                "document",
                d.file_id,
                d.file_unique_id,
                0,
                d.file_size,
                d.mime_type,
                ext,
                d.file_name,
            )
        return None


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
        manager: SessionManager,
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
        # Dropped when the session stops collecting, is deleted or another one opens (see
        # attach); a stale entry left by anything else (another process) is caught anyway.
        self._active: dict[int, str] = {}

    def attach(self) -> None:
        """Forget a chat's cached session as soon as it can take no more notes (finalized,
        cancelled, failed, deleted) or another session opens for the chat (/start)."""
        bus = self._manager.events
        for kind in (StateChanged, SessionDeleted):
            bus.subscribe(self._forget, kind)
        bus.subscribe(self._opened, SessionCreated)

    async def _forget(self, event: Event) -> None:
        if self._active.get(event.chat_id) == event.session_id:
            del self._active[event.chat_id]

    async def _opened(self, event: SessionCreated) -> None:
        if self._active.get(event.chat_id) != event.session_id:
            self._active.pop(event.chat_id, None)

    def refusal(self, audio: IncomingAudio) -> str | None:
        """Why this audio cannot be taken (declared duration or size), or None.

        Only a first, cheap check: the size is enforced again while downloading and the
        duration measured once the file is here, whatever the message declared.
        """
        if audio.duration_seconds > self.max_duration_seconds:
            return texts.too_long(audio.duration_seconds, self.max_duration_seconds)
        if audio.file_size is not None and audio.file_size > self.max_download_bytes:
            return texts.too_big(audio.file_size, self.max_download_bytes)
        return None

    async def ingest(
        self, chat_id: int, message_id: int, audio: IncomingAudio, ticket: Ticket | None
    ) -> IngestResult:
        """Download ``audio`` into the chat's session and record it (once per message).

        Raises :class:`NoteNotSaved` when the note cannot be stored; nothing of it is then
        left in the session (see :meth:`SessionManager.release_reservation`).
        """
        with _disk_errors():  # a full disk may show first when the number is reserved
            sequence, session = await self._reserve(chat_id, message_id, ticket)
        existing = session.entry_for_message(message_id)
        if existing is not None:
            return IngestResult(session, existing, duplicate=True)
        try:
            session = await self._store(session.session_id, sequence, message_id, audio)
        except Exception:
            # Cancellation (shutdown) keeps the number: the update is not confirmed, comes
            # again and takes the same place. A failure gives it back.
            await self._release(session.session_id, message_id)
            raise
        recorded = session.entry_for_message(message_id)
        assert recorded is not None
        return IngestResult(session, recorded, duplicate=False)

    async def _reserve(
        self, chat_id: int, message_id: int, ticket: Ticket | None
    ) -> tuple[int, Session]:
        """The message's number in the chat's open session, taken in message order."""
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
            return await reservation
        except _NOT_COLLECTING as exc:
            # The cached session was finished, cancelled or deleted where no event of it
            # reached us: the note goes into the chat's open session, a new one if none.
            _log.info("cached_session_gone", session_id=session_id, reason=type(exc).__name__)
            self._active.pop(chat_id, None)
            session = await self._manager.ensure_active_session(chat_id)
            self._active[chat_id] = session.session_id
            return await self._manager.reserve(session.session_id, message_id)

    async def _store(
        self, session_id: str, sequence: int, message_id: int, audio: IncomingAudio
    ) -> Session:
        """Download, measure, rename into place and record; nothing stays behind on failure."""
        folder = self._manager.folder(session_id)
        filename = folder.audio_filename(sequence, audio.extension)
        # Written under a temporary name, measured there, and renamed only if it is kept.
        async with folder.audio_upload(filename) as upload:
            await self._download(audio, upload)
            measured = await measure_duration(upload.path)
            if measured is None:  # damaged, or not audio after all: it could only fail later
                raise NoteNotSaved(texts.NO_READABLE_AUDIO, code="no_audio")
            if measured > self.max_duration_seconds:
                raise NoteNotSaved(
                    texts.too_long(measured, self.max_duration_seconds), code="too_long"
                )
            with _disk_errors():
                await upload.commit()
        entry = AudioEntry(
            sequence=sequence,
            filename=filename,
            duration_seconds=measured,
            declared_duration_seconds=float(audio.duration_seconds),
            message_id=message_id,
            file_id=audio.file_id,
            file_unique_id=audio.file_unique_id,
            mime_type=audio.mime_type,
            file_size=audio.file_size,
            kind=audio.kind,
            original_filename=audio.file_name,
            speaker=audio.origin.speaker,
            forwarded=audio.origin.forwarded,
        )
        try:
            with _disk_errors():
                return await self._manager.add_audio(session_id, entry)
        except Exception:
            await asyncio.to_thread(folder.remove_audio, filename)
            raise

    async def _release(self, session_id: str, message_id: int) -> None:
        try:
            await self._manager.release_reservation(session_id, message_id)
        except Exception as exc:  # e.g. the disk is still full: the number stays a gap
            _log.warning("reservation_not_released", message_id=message_id, error=repr(exc))

    async def _download(self, audio: IncomingAudio, upload: AudioUpload) -> None:
        """Stream the file into ``upload``, retrying transient errors with backoff."""
        for attempt in range(1, self._attempts + 1):
            try:
                await self._download_once(audio, upload)
                return
            except TelegramBadRequest as exc:
                code, reply = (
                    ("telegram_too_big", texts.NOT_SAVED_TELEGRAM_TOO_BIG)
                    if "too big" in exc.message.lower()
                    else ("telegram_refused", texts.NOT_SAVED_TELEGRAM_REFUSED)
                )
                raise NoteNotSaved(reply, code=code) from exc
            except _TRANSIENT as exc:
                if attempt >= self._attempts:
                    raise NoteNotSaved(
                        texts.not_saved_download_failed(attempt), code="download_failed"
                    ) from exc
                delay = self._retry_delay * 2 ** (attempt - 1)
                if isinstance(exc, aiohttp.ClientResponseError) and exc.status == 429:
                    delay = max(delay, 1.0)
                _log.warning(
                    "download_retry", attempt=attempt, delay_seconds=delay, error=repr(exc)
                )
                await asyncio.sleep(delay)
            except TelegramAPIError as exc:  # any other refusal of getFile: not transient
                reply = texts.NOT_SAVED_TELEGRAM_REFUSED
                raise NoteNotSaved(reply, code="telegram_refused") from exc

    async def _download_once(self, audio: IncomingAudio, upload: AudioUpload) -> None:
        file = await self._bot.get_file(audio.file_id)
        if file.file_path is None:
            raise NoteNotSaved(texts.NOT_SAVED_TELEGRAM_REFUSED, code="no_file_path")
        expected = file.file_size if file.file_size is not None else audio.file_size
        if expected is not None and expected > self.max_download_bytes:
            raise NoteNotSaved(texts.too_big(expected, self.max_download_bytes), code="too_big")
        url = self._bot.session.api.file_url(self._bot.token, file.file_path)
        stream = self._bot.session.stream_content(
            url,
            timeout=download_timeout(expected or self.max_download_bytes),
            chunk_size=CHUNK_BYTES,
            raise_for_status=True,
        )
        with _disk_errors():
            handle = await upload.open()
        received = 0
        try:
            async for chunk in stream:
                received += len(chunk)
                # A size nobody declared is no way round the limit: it is counted here.
                if received > self.max_download_bytes:
                    raise NoteNotSaved(
                        texts.too_big_unannounced(self.max_download_bytes), code="too_big"
                    )
                with _disk_errors():
                    await handle.write(chunk)
        finally:
            await stream.aclose()
            with _disk_errors():
                await handle.close()


@contextlib.contextmanager
def _disk_errors() -> Iterator[None]:
    """A failing disk becomes :class:`NoteNotSaved`, in words for people (no path, no errno)."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise NoteNotSaved(texts.NOT_SAVED_DISK_FULL, code="disk_full") from exc
        raise NoteNotSaved(texts.NOT_SAVED_DISK_ERROR, code="disk_error") from exc
