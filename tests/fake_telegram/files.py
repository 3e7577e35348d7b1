"""Files: the store behind getFile and downloads, uploads by sendDocument, slow downloads
and updates that leave sizes out."""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Any

from aiohttp import web

from tests.fake_telegram.api import (
    DEFAULT_TOKEN,
    ApiError,
    Handler,
    Params,
    Upload,
    bad_request,
    chat_id_param,
    str_param,
)
from tests.fake_telegram.core import FakeCore
from tests.fake_telegram.markup import render
from tests.fake_telegram.records import SentCall, StoredFile

MAX_CAPTION_LENGTH = 1024
"""Longest media caption (after entity parsing) Telegram accepts."""

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""Largest file the public Bot API lets a bot download (getFile answers "file is too big")."""


class FilesMixin(FakeCore):
    """Owns the stored files: what getFile answers, downloads serve and uploads add."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        max_download_size: int = MAX_DOWNLOAD_SIZE,
        **options: Any,
    ) -> None:
        super().__init__(token, **options)
        self.max_download_size = max_download_size
        self.downloads: list[tuple[str, float]] = []
        """Every authorised file download attempt as (file_path, :func:`time.monotonic`)."""
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_delay = 0.0
        self._omit_file_sizes = False

    def _api_methods(self) -> dict[str, Handler]:
        return {
            **super()._api_methods(),
            "getFile": self._get_file,
            "sendDocument": self._send_document,
        }

    def add_file(
        self,
        data: bytes,
        *,
        file_unique_id: str | None = None,
        file_path: str | None = None,
    ) -> str:
        """Store ``data`` for getFile/download and return its new file_id.

        ``file_path`` defaults to ``voice/file_N.oga`` as Telegram names voice notes.
        """
        n = len(self._files) + 1
        file_id = f"AwACAgIAAxkBAAI{n:06d}FakeFileId"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=file_unique_id or f"AgAD{n:06d}",
            file_path=file_path or f"voice/file_{n}.oga",
            data=bytes(data),
        )
        self._files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return file_id

    def get_stored_file(self, file_id: str) -> StoredFile:
        """The stored file behind ``file_id`` (added by the test or uploaded by the bot)."""
        return self._files[file_id]

    def delay_file(self, seconds: float) -> None:
        """Make every later download send half the file, pause ``seconds``, then the rest."""
        self._file_delay = max(0.0, seconds)

    def omit_file_sizes(self, omit: bool = True) -> None:
        """Leave ``file_size`` out of later updates' files and getFile answers, as Telegram
        may; a file over :attr:`max_download_size` still gets "file is too big"."""
        self._omit_file_sizes = omit

    def _file_meta(self, file_id: str, file_size: int | None) -> dict[str, Any]:
        stored = self._files.get(file_id)
        meta: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id if stored else f"U-{file_id[-16:]}",
        }
        size = file_size if file_size is not None else (len(stored.data) if stored else None)
        if size is not None and not self._omit_file_sizes:
            meta["file_size"] = size
        return meta

    async def _serve_file(self, request: web.Request, file_path: str) -> web.StreamResponse:
        """Send the file stored at ``file_path``, in halves around :meth:`delay_file`'s pause."""
        stored = self._files_by_path.get(file_path)
        if stored is None:
            return ApiError(404, "Not Found").response()
        if self._file_delay <= 0:
            return web.Response(body=stored.data, content_type="application/octet-stream")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(stored.data)
        await response.prepare(request)
        half = len(stored.data) // 2
        await response.write(stored.data[:half])
        await asyncio.sleep(self._file_delay)
        await response.write(stored.data[half:])
        await response.write_eof()
        return response

    async def _get_file(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        stored = self._files.get(str_param(params, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > self.max_download_size:
            raise bad_request("file is too big")
        answer: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }
        if self._omit_file_sizes:
            del answer["file_size"]
        return answer

    async def _send_document(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat_id = chat_id_param(params)
        stored, name, mime = self._resolve_document(params.get("document"), uploads)
        parse_mode = str_param(params, "parse_mode")
        raw_caption = str_param(params, "caption")
        caption = None if raw_caption is None else render(raw_caption, parse_mode)
        if caption is not None and len(caption) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": name,
            "mime_type": mime,
            "file_size": len(stored.data),
        }
        content: dict[str, Any] = {"document": document}
        if caption:
            content["caption"] = caption
        message = self._bot_message(chat_id, params, content)
        self._record(
            SentCall(
                method="sendDocument",
                chat_id=chat_id,
                message_id=message["message_id"],
                caption=caption,
                parse_mode=parse_mode,
                document_name=name,
                document_bytes=stored.data,
                document_mime_type=mime,
                params={k: v for k, v in params.items() if k != "document"},
            )
        )
        return message

    def _resolve_document(
        self, value: Any, uploads: dict[str, Upload]
    ) -> tuple[StoredFile, str, str]:
        """The file behind a sendDocument ``document``: an upload or an existing file_id."""
        upload: Upload | None = None
        if value is None and "document" in uploads:
            upload = uploads["document"]
        elif isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        elif isinstance(value, str) and value in self._files:
            stored = self._files[value]
            name = stored.file_path.rsplit("/", 1)[-1]
            return stored, name, mimetypes.guess_type(name)[0] or "application/octet-stream"
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if not upload.data:
            raise bad_request("file must be non-empty")
        name = upload.filename or "document"
        mime = mimetypes.guess_type(name)[0] or upload.content_type or "application/octet-stream"
        file_id = self.add_file(
            upload.data, file_path=f"documents/file_{len(self._files) + 1}_{name}"
        )
        return self._files[file_id], name, mime
