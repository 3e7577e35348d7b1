"""Access control: a stranger is refused once a day per chat, service accounts never."""

from __future__ import annotations

import time
from typing import Any

from aiogram import Bot
from aiogram.types import Message, TelegramObject

from bot import texts
from bot.config import AccessPolicy
from bot.middlewares.access import AccessMiddleware
from tests.fake_telegram import FakeTelegram

ALLOWED = 42
STRANGER = 555
GROUP = -100300


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Calls:
    def __init__(self) -> None:
        self.handled: list[int] = []

    async def __call__(self, event: TelegramObject, data: dict[str, Any]) -> None:
        assert isinstance(event, Message)
        self.handled.append(event.message_id)


def message(fake: FakeTelegram, bot: Bot, update_id: int) -> Message:
    [raw] = [u for u in fake.pending_updates() if u["update_id"] == update_id]
    return Message.model_validate(raw["message"], context={"bot": bot})


def group_message(fake: FakeTelegram, user_id: int, **extra: Any) -> int:
    user = {"id": user_id, "is_bot": user_id == 1087968824, "first_name": "Someone"}
    chat = {"id": GROUP, "type": "supergroup", "title": "Team"}
    body = {"message_id": len(fake.pending_updates()) + 1, "date": int(time.time())}
    return fake.push_update(
        {"message": {**body, "from": user, "chat": chat, "text": "hello", **extra}}
    )


async def test_group_stranger_refused_once_per_interval(fake: FakeTelegram, bot: Bot) -> None:
    """In a group a stranger hears one line, no .env and no restart (that is for the owner,
    in a private chat), and only for what they sent the bot: a command or a recording."""
    clock = Clock()
    access = AccessMiddleware(AccessPolicy.parse(str(ALLOWED)), refusal_interval=60, clock=clock)
    calls = Calls()
    await access(calls, message(fake, bot, group_message(fake, STRANGER)), {})  # chatting
    assert fake.texts(GROUP) == []
    for _ in range(3):
        await access(calls, message(fake, bot, group_message(fake, STRANGER, text="/start")), {})
    assert fake.texts(GROUP) == [texts.ACCESS_CLOSED_GROUP]
    assert "\n" not in texts.ACCESS_CLOSED_GROUP
    assert ".env" not in texts.ACCESS_CLOSED_GROUP
    other = 556  # another stranger in the same group is told too
    voice = {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}}
    await access(calls, message(fake, bot, group_message(fake, other, **voice)), {})
    assert fake.texts(GROUP) == [texts.ACCESS_CLOSED_GROUP] * 2
    clock.now += 61  # a day (here: a minute) later, told again
    await access(calls, message(fake, bot, group_message(fake, STRANGER, text="/done")), {})
    assert fake.texts(GROUP) == [texts.ACCESS_CLOSED_GROUP] * 3
    await access(calls, message(fake, bot, group_message(fake, ALLOWED)), {})
    assert len(calls.handled) == 1


async def test_private_stranger_refused_once_per_interval(fake: FakeTelegram, bot: Bot) -> None:
    clock = Clock()
    access = AccessMiddleware(AccessPolicy.parse(str(ALLOWED)), refusal_interval=60, clock=clock)
    calls = Calls()
    for _ in range(3):
        await access(calls, message(fake, bot, fake.text(STRANGER, STRANGER, "hi")), {})
    assert fake.texts(STRANGER) == [texts.access_closed(STRANGER)]
    other = 556  # another stranger, in their own chat, is told too
    await access(calls, message(fake, bot, fake.text(other, other, "hi")), {})
    assert fake.texts(other) == [texts.access_closed(other)]
    clock.now += 61  # a day later (here: the interval), told again
    await access(calls, message(fake, bot, fake.text(STRANGER, STRANGER, "hi")), {})
    assert fake.texts(STRANGER) == [texts.access_closed(STRANGER)] * 2
    assert calls.handled == []


async def test_service_accounts_get_no_answer(fake: FakeTelegram, bot: Bot) -> None:
    access = AccessMiddleware(AccessPolicy.parse(str(ALLOWED)))
    calls = Calls()
    anonymous_admin = group_message(
        fake, 1087968824, sender_chat={"id": GROUP, "type": "supergroup", "title": "Team"}
    )
    linked_channel = group_message(
        fake, 777000, sender_chat={"id": -100999, "type": "channel", "title": "News"}
    )
    telegram = group_message(fake, 777000)
    for update_id in (anonymous_admin, linked_channel, telegram):
        await access(calls, message(fake, bot, update_id), {})
    assert fake.texts(GROUP) == []
    assert calls.handled == []


async def test_a_group_upgraded_by_a_stranger_is_followed_and_nobody_is_told(
    fake: FakeTelegram, bot: Bot
) -> None:
    access = AccessMiddleware(AccessPolicy.parse(str(ALLOWED)))
    calls = Calls()
    upgraded = group_message(fake, STRANGER, migrate_from_chat_id=-4242)
    await access(calls, message(fake, bot, upgraded), {})
    assert len(calls.handled) == 1  # on to the migration handler
    assert fake.texts(GROUP) == []
