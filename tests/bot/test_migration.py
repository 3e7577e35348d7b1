"""A group upgraded to a supergroup, below the bot process: sends to the old id reach the new
one (against the fake Bot API, with a real aiogram Bot), and the chat's sessions, index rows
and settings follow it, a move cut off by a crash finished at the next start (real files,
real SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramMigrateToChat
from aiogram.types import Update

from bot.middlewares.migration import FollowMigrations
from bot.middlewares.retry import RetryMiddleware
from bot.services.delivery import Courier, Part
from bot.services.migration import ChatMigrations
from bot.updates.ordering import ChatOrdering
from bot.updates.runner import ticket_for
from library import SessionLibrary, library_path
from sessions import FileSessionManager
from tests.bot.conftest import close_bot, make_bot
from tests.fake_telegram import FakeTelegram
from tests.sessions.helpers import transcribed

pytestmark = pytest.mark.timeout(60)

GROUP, SUPERGROUP = -4001, -1004001


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    opened.attach()
    manager.use_chat_settings(opened)
    yield opened
    await opened.close()


@pytest.fixture
async def migrations(manager: FileSessionManager, library: SessionLibrary) -> ChatMigrations:
    service = ChatMigrations(manager, library)
    await service.start()
    return service


@pytest.fixture
async def following(fake: FakeTelegram, migrations: ChatMigrations) -> AsyncIterator[Bot]:
    """A bot with the middlewares in the bot's order: retries outside, migrations inside."""
    bot = make_bot(fake)
    bot.session.middleware(RetryMiddleware(attempts=3, base_delay=0.1))
    bot.session.middleware(FollowMigrations(migrations))
    yield bot
    await close_bot(bot)


def sends_to(fake: FakeTelegram, method: str = "sendMessage") -> int:
    return [name for name, _ in fake.calls].count(method)


async def test_the_transcript_of_a_migrated_group_reaches_the_supergroup(
    fake: FakeTelegram,
    following: Bot,
    manager: FileSessionManager,
    library: SessionLibrary,
    migrations: ChatMigrations,
) -> None:
    session = await transcribed(manager, GROUP, ["kubernetes upgrade notes"])
    await manager.update_chat_settings(GROUP, lambda s: s.with_words(["Kubernetes"]))
    await library.wait_idle()
    fake.migrate_chat(GROUP, SUPERGROUP)

    await Courier(following, manager).send_all(session, [Part("transcript/1", text="hello")])

    assert fake.texts(SUPERGROUP) == ["hello"]
    assert fake.texts(GROUP) == []
    delivered = await manager.require_session(session.session_id)
    assert delivered.delivery.sent == ["transcript/1"]  # sent, not "refused"
    assert delivered.chat_id == SUPERGROUP
    assert (await manager.get_chat_settings(SUPERGROUP)).vocabulary == ("Kubernetes",)
    assert [h.session_id for h in await library.search(SUPERGROUP, "upgrade")] == [
        session.session_id
    ]
    assert await library.search(GROUP, "upgrade") == []
    assert [m.finished for m in await manager.chat_moves()] == [True]

    # Later sends to the old id go to the new one at once, without another refusal.
    before = sends_to(fake)
    await following.send_message(GROUP, "again")
    assert fake.texts(SUPERGROUP) == ["hello", "again"]
    assert sends_to(fake) == before + 1


async def test_edits_are_not_redirected_to_another_chats_message(
    fake: FakeTelegram, following: Bot, migrations: ChatMigrations
) -> None:
    sent = await following.send_message(GROUP, "status")
    fake.migrate_chat(GROUP, SUPERGROUP)
    await following.send_message(SUPERGROUP, "a message of the new chat")
    with pytest.raises(TelegramMigrateToChat):
        await following.edit_message_text("edited", chat_id=GROUP, message_id=sent.message_id)
    assert fake.texts(SUPERGROUP) == ["a message of the new chat"]


async def test_a_reply_to_a_message_of_the_old_group_is_sent_without_the_reply(
    fake: FakeTelegram, following: Bot, migrations: ChatMigrations
) -> None:
    fake.text(GROUP, 5, "hello", chat_type="group")  # the fake knows message 1
    fake.migrate_chat(GROUP, SUPERGROUP)
    await following.send_message(GROUP, "an answer", reply_to_message_id=1)
    [answer] = fake.messages(SUPERGROUP)
    assert answer["text"] == "an answer"
    assert "reply_to_message" not in answer


async def test_a_move_cut_off_by_a_crash_is_finished_at_the_next_start(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    session = await transcribed(manager, GROUP, ["budget review tomorrow"])
    await library.wait_idle()
    # Cut off after the sessions moved, before the index and the record were finished.
    await manager.move_chat(GROUP, SUPERGROUP)
    assert await library.search(SUPERGROUP, "budget") == []

    restarted = ChatMigrations(manager, library)
    await restarted.start()

    assert [h.session_id for h in await library.search(SUPERGROUP, "budget")] == [
        session.session_id
    ]
    assert restarted.destination(GROUP) == SUPERGROUP
    assert [m.finished for m in await manager.chat_moves()] == [True]


async def test_a_refusal_of_another_kind_is_not_taken_for_a_migration(
    fake: FakeTelegram, following: Bot, manager: FileSessionManager
) -> None:
    fake.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest):
        await following.send_message(GROUP, "lost")
    assert await manager.chat_moves() == []


async def test_a_move_that_fails_is_tried_again_at_the_next_refused_send(
    fake: FakeTelegram,
    following: Bot,
    manager: FileSessionManager,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = await transcribed(manager, GROUP)
    real_move = manager.move_chat
    calls: list[int] = []

    async def failing_once(old_chat_id: int, new_chat_id: int) -> Any:
        calls.append(old_chat_id)
        if len(calls) == 1:
            raise OSError("disk full")
        return await real_move(old_chat_id, new_chat_id)

    monkeypatch.setattr(manager, "move_chat", failing_once)
    fake.migrate_chat(GROUP, SUPERGROUP)

    await following.send_message(GROUP, "first")  # delivered all the same
    assert (await manager.require_session(session.session_id)).chat_id == GROUP
    await following.send_message(GROUP, "second")

    assert fake.texts(SUPERGROUP) == ["first", "second"]
    assert (await manager.require_session(session.session_id)).chat_id == SUPERGROUP
    assert calls == [GROUP, GROUP]


def test_the_migration_waits_for_the_notes_before_it_like_done() -> None:
    # It finalizes the group's open session: a note still downloading must be stored first.
    update = Update.model_validate(
        {
            "update_id": 7,
            "message": {
                "message_id": 3,
                "date": 0,
                "chat": {"id": GROUP, "type": "group", "title": "Team"},
                "migrate_to_chat_id": SUPERGROUP,
            },
        }
    )
    assert ticket_for(ChatOrdering(), update).exclusive
