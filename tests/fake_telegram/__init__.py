"""A local fake of the Telegram Bot API for end-to-end tests.

:class:`FakeTelegram` is an ``aiohttp.web`` server that answers the way
``api.telegram.org`` does, so the real bot (aiogram 3) can run against it as a subprocess with
``TELEGRAM_API_URL=http://127.0.0.1:PORT``.  It serves

* ``{base}/bot{token}/{method}`` for Bot API methods (GET or POST; JSON, urlencoded or
  multipart bodies; method names are case-insensitive), and
* ``{base}/file/bot{token}/{file_path}`` for file downloads,

which is exactly what ``TelegramAPIServer.from_base(base_url)`` produces.

The test drives it through plain methods on the instance: put files in with
:meth:`FakeTelegram.add_file`, queue updates with :meth:`FakeTelegram.voice`,
:meth:`FakeTelegram.text` and friends, inspect what the bot sent in :attr:`FakeTelegram.sent`,
wait with :meth:`FakeTelegram.wait_for`, and inject faults with :meth:`FakeTelegram.fail_next`
(Telegram's error answers, or a proxy's HTML page with ``html=True``), :meth:`FakeTelegram.hang`
(no answer until :meth:`FakeTelegram.release`), :meth:`FakeTelegram.delay_file` and
:meth:`FakeTelegram.reset_update_ids` (ids numbered afresh, lower).
All state lives on the instance; the test-side API must be called from the event loop thread the
server runs on.

The package is split by concern, one module (a mixin over :class:`~.core.FakeCore`) each:
:mod:`.server` (the HTTP app, routing, and :class:`FakeTelegram` joining the rest),
:mod:`.updates` (the update queue, long polling, update ids, the webhook methods),
:mod:`.messages` (sending, editing, deleting, reactions and the queries over what was sent),
:mod:`.files` (getFile, downloads, uploads, delays, sizes), :mod:`.callbacks` (callback
queries), :mod:`.faults` (injected errors, hangs, id resets, chat migration), :mod:`.profile`
(getMe, commands, descriptions) and :mod:`.control` (the JSON control API); :mod:`.api`,
:mod:`.markup` and :mod:`.records` hold what they share.  This module is the public surface:
import from ``tests.fake_telegram``, not from the modules.

Run standalone (``python -m tests.fake_telegram --port 8081``) it prints its base URL and serves
until SIGINT/SIGTERM; a small JSON control API under ``/_fake/`` then stands in for the
test-side methods (see :mod:`.control`).
"""

from tests.fake_telegram.api import DEFAULT_TOKEN
from tests.fake_telegram.faults import FILE_METHOD, HANG_ALL
from tests.fake_telegram.files import MAX_CAPTION_LENGTH, MAX_DOWNLOAD_SIZE
from tests.fake_telegram.markup import render_html
from tests.fake_telegram.messages import MAX_MESSAGE_LENGTH
from tests.fake_telegram.records import (
    SentCall,
    StoredFile,
    origin_channel,
    origin_chat,
    origin_hidden_user,
    origin_user,
)
from tests.fake_telegram.server import FakeTelegram

__all__ = [
    "DEFAULT_TOKEN",
    "FILE_METHOD",
    "HANG_ALL",
    "MAX_CAPTION_LENGTH",
    "MAX_DOWNLOAD_SIZE",
    "MAX_MESSAGE_LENGTH",
    "FakeTelegram",
    "SentCall",
    "StoredFile",
    "origin_channel",
    "origin_chat",
    "origin_hidden_user",
    "origin_user",
    "render_html",
]
