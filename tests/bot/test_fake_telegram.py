"""Proves :mod:`tests.fake_telegram` speaks the Bot API well enough for real aiogram 3."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReactionTypeEmoji,
)

from tests.bot.conftest import close_bot, make_bot
from tests.conftest import TIMEOUT_SCALE
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram, SentCall

REPO_ROOT = Path(__file__).parent.parent.parent


def method_names(fake: FakeTelegram) -> list[str]:
    return [name for name, _ in fake.calls]


async def test_get_me(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "fake_test_bot"
    assert method_names(fake) == ["getMe"]
    assert fake.base_url.startswith("http://127.0.0.1:")


async def test_get_updates_offset_confirms(fake: FakeTelegram, bot: Bot) -> None:
    first = fake.text(10, 10, "hello")
    second = fake.text(10, 10, "/done")
    file_id = fake.add_file(b"OggS" + b"\0" * 60)
    third = fake.voice(10, 10, file_id=file_id, duration=3)
    assert [first, second, third] == [1, 2, 3]

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [first, second, third]
    assert updates[0].message is not None
    assert updates[0].message.chat.type == "private"
    assert updates[0].message.from_user is not None
    assert not updates[0].message.from_user.is_bot
    command = updates[1].message
    assert command is not None
    assert command.entities is not None
    assert command.entities[0].type == "bot_command"
    voice = updates[2].message
    assert voice is not None
    assert voice.voice is not None
    assert voice.voice.file_size == 64
    assert [u.message.message_id for u in updates if u.message] == [1, 2, 3]
    # Without an offset nothing is confirmed.
    assert fake.confirmed_offset == 0
    assert len(fake.pending_updates()) == 3

    updates = await bot.get_updates(offset=second + 1, limit=10)
    assert [u.update_id for u in updates] == [third]
    assert fake.confirmed_offset == second + 1
    assert [u["update_id"] for u in fake.pending_updates()] == [third]
    await fake.wait_confirmed(second, timeout=0.1)
    with pytest.raises(TimeoutError):
        await fake.wait_confirmed(third, timeout=0.05)

    assert await bot.get_updates(offset=third + 1) == []
    await fake.wait_confirmed(third, timeout=0.1)
    assert fake.pending_updates() == []


async def test_get_updates_limit_and_allowed_updates(fake: FakeTelegram, bot: Bot) -> None:
    fake.text(1, 1, "a")
    fake.text(1, 1, "b")
    callback = fake.push_update(
        {
            "callback_query": {
                "id": "77",
                "from": {"id": 1, "is_bot": False, "first_name": "A"},
                "chat_instance": "ci",
                "data": "pressed",
            }
        }
    )
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [1]
    only_messages = await bot.get_updates(allowed_updates=["message"])
    assert [u.update_id for u in only_messages] == [1, 2]
    # The setting sticks until changed, as in Telegram.
    assert [u.update_id for u in await bot.get_updates()] == [1, 2]
    callbacks = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.update_id for u in callbacks] == [callback]
    assert callbacks[0].callback_query is not None
    assert callbacks[0].callback_query.data == "pressed"
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates() == []
    assert fake.confirmed_offset == callback + 1


async def test_long_poll_returns_early_on_push(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_called("getUpdates")
    await asyncio.sleep(0.1)
    started = time.monotonic()
    update_id = fake.text(5, 5, "wake up")
    updates = await asyncio.wait_for(poll, timeout=2)
    assert time.monotonic() - started < 1
    assert [u.update_id for u in updates] == [update_id]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_newer_poll_terminates_waiting_poll(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_called("getUpdates")
    await asyncio.sleep(0.1)
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, timeout=2)


async def test_get_file_and_download_round_trip(fake: FakeTelegram, bot: Bot) -> None:
    data = os.urandom(150_000)
    file_id = fake.add_file(data, file_unique_id="uniq-1")
    file = await bot.get_file(file_id)
    assert file.file_id == file_id
    assert file.file_unique_id == "uniq-1"
    assert file.file_size == len(data)
    assert file.file_path == "voice/file_1.oga"
    downloaded = await bot.download(file_id)
    assert downloaded is not None
    assert downloaded.read() == data
    assert [path for path, _ in fake.downloads] == ["voice/file_1.oga"]

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")
    fake.max_download_size = 1000
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(file_id)


async def test_send_edit_document_delete_are_recorded(fake: FakeTelegram, bot: Bot) -> None:
    fake.text(42, 42, "hi")
    message = await bot.send_message(42, "Hello")
    assert message.message_id == 2  # shares the chat's id sequence with the user's message
    assert message.chat.id == 42
    assert message.from_user is not None
    assert message.from_user.id == 123456
    assert message.text == "Hello"

    edited = await bot.edit_message_text("Hello, world", chat_id=42, message_id=2)
    assert isinstance(edited, Message)
    assert edited.text == "Hello, world"
    assert edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Hello, world", chat_id=42, message_id=2)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("mine now", chat_id=42, message_id=1)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("ghost", chat_id=42, message_id=99)

    assert await bot.send_chat_action(42, "typing")
    document = await bot.send_document(
        42,
        BufferedInputFile(b"the transcript\n", filename="transcript.txt"),
        caption="Your transcript",
        reply_to_message_id=1,
    )
    assert document.document is not None
    assert document.document.file_name == "transcript.txt"
    assert document.document.mime_type == "text/plain"
    assert document.caption == "Your transcript"
    assert document.reply_to_message is not None
    assert document.reply_to_message.text == "hi"
    downloaded = await bot.download(document.document.file_id)
    assert downloaded is not None
    assert downloaded.read() == b"the transcript\n"

    assert await bot.delete_message(42, message.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(42, message.message_id)

    assert [c.method for c in fake.sent] == [
        "sendMessage",
        "editMessageText",
        "sendChatAction",
        "sendDocument",
        "deleteMessage",
    ]
    sent_doc = fake.sent[3]
    assert sent_doc.document_name == "transcript.txt"
    assert sent_doc.document_bytes == b"the transcript\n"
    assert sent_doc.caption == "Your transcript"
    assert fake.texts(42) == ["Hello", "Hello, world"]
    assert [m["message_id"] for m in fake.messages(42)] == [1, 3]
    found = await fake.wait_for(lambda c: c.method == "sendDocument", timeout=0.1)
    assert found is sent_doc
    with pytest.raises(TimeoutError, match="matching sent call"):
        await fake.wait_for(lambda c: c.text == "never", timeout=0.05)


async def test_message_validation_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    html = await bot.send_message(1, "<b>Bold</b> &amp; <i>co</i>", parse_mode="HTML")
    assert html.text == "Bold & co"
    assert fake.sent[-1].params["text"] == "<b>Bold</b> &amp; <i>co</i>"
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "1 < 2", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>open", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="reserved"):
        await bot.send_message(1, "Done.", parse_mode="MarkdownV2")
    escaped = await bot.send_message(1, "*Done\\.*", parse_mode="MarkdownV2")
    assert escaped.text == "Done."
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "x" * 4097)
    assert (await bot.send_message(1, "x" * 4096)).text == "x" * 4096
    with pytest.raises(TelegramBadRequest, match="text is empty"):
        await bot.send_message(1, " ")
    assert len(fake.sent) == 3


async def test_set_my_commands_recorded(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand(command="done", description="Finish")])
    assert fake.commands == [{"command": "done", "description": "Finish"}]
    assert "setMyCommands" in method_names(fake)
    assert [c.command for c in await bot.get_my_commands()] == ["done"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="/done", description="Finish")])


async def test_retry_after_429(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(1, "hi")
    assert caught.value.retry_after == 7
    assert "retry after 7" in caught.value.message
    assert fake.sent == []
    await bot.send_message(1, "hi")
    assert fake.texts(1) == ["hi"]
    assert method_names(fake) == ["sendMessage", "sendMessage"]


async def test_server_error_502_counts_down(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("GETME", status=502, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.get_me()
    assert (await bot.get_me()).id == 123456


async def test_download_faults_and_delay(fake: FakeTelegram, bot: Bot) -> None:
    file_id = fake.add_file(b"abcdef" * 1000)
    fake.fail_next("file", status=502)
    with pytest.raises(aiohttp.ClientResponseError) as caught:
        await bot.download(file_id)
    assert caught.value.status == 502

    fake.delay_file(0.4)
    started = time.monotonic()
    downloaded = await bot.download(file_id)
    assert downloaded is not None
    assert downloaded.read() == b"abcdef" * 1000
    assert time.monotonic() - started >= 0.4
    assert len(fake.downloads) == 2


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    intruder = make_bot(fake, "654321:WRONG-token")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await intruder.get_me()
    finally:
        await intruder.session.close()
    assert fake.calls == []


async def test_raw_http_shapes(fake: FakeTelegram) -> None:
    base = f"{fake.base_url}/bot{DEFAULT_TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/GETME") as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["username"] == "fake_test_bot"
        async with http.post(f"{base}/fooBar") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.post(f"{base}/sendMessage", json={"chat_id": 9, "text": "json"}) as resp:
            assert (await resp.json())["result"]["text"] == "json"
        async with http.get(f"{base}/sendMessage", params={"chat_id": "9", "text": "q"}) as resp:
            assert (await resp.json())["result"]["message_id"] == 2
        form = aiohttp.FormData({"chat_id": "9", "text": "multipart"})
        form.add_field("document", b"raw", filename="a.bin")
        async with http.post(f"{base}/sendDocument", data=form) as resp:
            assert (await resp.json())["result"]["document"]["file_name"] == "a.bin"
        async with http.post(f"{fake.base_url}/botother:token/getMe") as resp:
            assert resp.status == 401
            assert (await resp.json())["description"] == "Unauthorized"
        async with http.get(f"{fake.base_url}/elsewhere") as resp:
            assert resp.status == 404
    assert fake.texts(9) == ["json", "q"]
    assert method_names(fake) == ["getMe", "fooBar", "sendMessage", "sendMessage", "sendDocument"]


async def test_dispatcher_polling_echo(fake: FakeTelegram, bot: Bot) -> None:
    router = Router()

    @router.message(Command("done"))
    async def done(message: Message) -> None:
        await message.answer("finished")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
    try:
        hello = fake.text(7, 7, "hello")
        reply = await fake.wait_for(lambda c: c.chat_id == 7, timeout=5)
        assert reply.text == "echo: hello"
        finish = fake.text(-1001, 7, "/done@fake_test_bot", chat_type="supergroup")
        reply = await fake.wait_for(lambda c: c.chat_id == -1001, timeout=5)
        assert reply.text == "finished"
        await fake.wait_confirmed(hello, timeout=5)
        await fake.wait_confirmed(finish, timeout=5)
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, timeout=5)
    assert "getMe" in method_names(fake)
    assert fake.texts(7) == ["echo: hello"]


async def test_standalone_main_with_control_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_telegram",
        "--port",
        "0",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        base_url = (await asyncio.wait_for(proc.stdout.readline(), timeout=10)).decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base_url}/_fake/files", data=b"OggS-audio") as resp:
                file_id = (await resp.json())["file_id"]
            payload = {"kind": "voice", "chat_id": 3, "user_id": 3, "file_id": file_id}
            async with http.post(f"{base_url}/_fake/updates", json={**payload, "duration": 2}):
                pass
            api = TelegramAPIServer.from_base(base_url)
            remote = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=api))
            try:
                updates = await remote.get_updates()
                assert updates[0].message is not None
                assert updates[0].message.voice is not None
                downloaded = await remote.download(updates[0].message.voice.file_id)
                assert downloaded is not None
                assert downloaded.read() == b"OggS-audio"
                await remote.send_message(3, "got it")
            finally:
                await remote.session.close()
            async with http.get(f"{base_url}/_fake/sent") as resp:
                sent = await resp.json()
        assert [(s["method"], s["text"]) for s in sent] == [("sendMessage", "got it")]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10 * TIMEOUT_SCALE) == 0


def test_sent_call_is_plain_data() -> None:
    call = SentCall("sendMessage", 1, 2, "text")
    assert call.document_bytes is None
    assert call.timestamp <= time.monotonic()


async def test_html_answers_like_a_proxy(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("getMe", status=502, html=True)
    fake.fail_next("getMe", status=200, html=True)
    for _ in range(2):
        with pytest.raises(ClientDecodeError):
            await bot.get_me()
    assert (await bot.get_me()).id == 123456
    fake.fail_next("file", status=502, html=True)
    file_id = fake.add_file(b"abc")
    with pytest.raises(aiohttp.ClientResponseError):
        await bot.download(file_id)


async def test_hang_holds_calls_until_released(fake: FakeTelegram, bot: Bot) -> None:
    fake.hang("sendMessage", count=1)
    held = asyncio.create_task(bot.send_message(1, "held"))
    await fake.wait_called("sendMessage")
    assert not held.done()
    await bot.get_me()  # other methods still answer
    fake.release()
    await asyncio.wait_for(held, 5)
    assert fake.texts(1) == ["held"]
    await bot.send_message(1, "free")  # count=1: the next one is not held

    fake.hang("*")
    file_id = fake.add_file(b"abc")
    download = asyncio.create_task(bot.download_file("voice/file_1.oga"))
    me = asyncio.create_task(bot.get_me())
    await fake.wait_called("getMe")
    for _ in range(500):  # bounded: until the download reached the server
        if fake.downloads:
            break
        await asyncio.sleep(0.01)
    assert fake.downloads
    assert not download.done()
    assert not me.done()
    fake.release()
    assert (await asyncio.wait_for(me, 5)).id == 123456
    downloaded = await asyncio.wait_for(download, 5)
    assert downloaded is not None
    assert downloaded.read() == b"abc"
    assert file_id


async def test_stop_releases_hung_calls() -> None:
    server = FakeTelegram()
    await server.start()
    hung = make_bot(server)
    try:
        server.hang("getMe")
        call = asyncio.create_task(hung.get_me())
        await server.wait_called("getMe")
        await server.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(call, 5)
        assert call.done()
    finally:
        await close_bot(hung)


async def test_reset_update_ids_numbers_lower_and_forgets_old_offsets(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.reset_update_ids(1000)
    high = fake.text(1, 1, "high")
    assert high == 1000
    assert [u.update_id for u in await bot.get_updates(offset=high + 1)] == []
    fake.reset_update_ids(10)
    low = fake.text(1, 1, "low")
    assert low == 10
    # A stale offset (from before the reset) confirms nothing: the update still comes.
    assert [u.update_id for u in await bot.get_updates(offset=high + 1)] == [low]
    assert [u.update_id for u in await bot.get_updates(offset=low + 1)] == []
    await fake.wait_confirmed(low)


async def test_inline_buttons_taps_and_their_answers(fake: FakeTelegram, bot: Bot) -> None:
    button = InlineKeyboardButton(text="Done", callback_data="done:x")
    markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    sent = await bot.send_message(7, "Got it", reply_markup=markup)
    [call] = fake.sent
    assert call.buttons() == [("Done", "done:x")]
    tap = fake.callback(7, 7, sent.message_id, "done:x")
    [update] = fake.pending_updates()
    query = update["callback_query"]
    assert query["id"] == tap
    assert query["data"] == "done:x"
    assert query["message"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Done"
    with pytest.raises(ValueError, match="no message"):
        fake.callback(7, 7, 999, "done:x")
    assert await bot.answer_callback_query(tap, text="Finished", show_alert=True)
    assert await fake.wait_answered(tap) == {"text": "Finished", "show_alert": True}
    await bot.edit_message_reply_markup(chat_id=7, message_id=sent.message_id)
    assert fake.sent[-1].method == "editMessageReplyMarkup"
    assert fake.sent[-1].buttons() == []
    assert "reply_markup" not in fake.messages(7)[0]
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_reply_markup(chat_id=7, message_id=sent.message_id)
    edited = await bot.edit_message_text(
        "Page 2", chat_id=7, message_id=sent.message_id, reply_markup=markup
    )
    assert isinstance(edited, Message)
    assert fake.sent[-1].buttons() == [("Done", "done:x")]


async def test_reactions_as_telegram_takes_them(fake: FakeTelegram, bot: Bot) -> None:
    note = fake.text(7, 7, "a note")
    [update] = fake.pending_updates()
    message_id = update["message"]["message_id"]
    assert note == update["update_id"]
    thumbs = [ReactionTypeEmoji(emoji="👍")]
    assert await bot.set_message_reaction(7, message_id, reaction=thumbs)
    assert fake.reactions(7) == {message_id: ["👍"]}
    assert await fake.wait_reactions(7, 1) == [message_id]
    with pytest.raises(TelegramBadRequest, match="REACTION_INVALID"):  # not one of Telegram's
        await bot.set_message_reaction(7, message_id, reaction=[ReactionTypeEmoji(emoji="🦖")])
    with pytest.raises(TelegramBadRequest, match="REACTIONS_TOO_MANY"):  # a bot sets one
        await bot.set_message_reaction(7, message_id, reaction=thumbs * 2)
    with pytest.raises(TelegramBadRequest, match="not found"):
        await bot.set_message_reaction(7, message_id + 100, reaction=thumbs)
    assert await bot.set_message_reaction(7, message_id, reaction=[])  # taken back
    assert fake.reactions(7) == {message_id: []}
    with pytest.raises(TimeoutError):
        await fake.wait_reactions(7, 1, timeout=0.1)
