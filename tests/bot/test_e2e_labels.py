"""End to end: sessions named as people name them, against the real ``python -m bot`` and
the fake Bot API. /get by the local time and date a session was recorded (an ambiguous
one answered with buttons), the transcript's header naming the session by its label,
/history telling two sessions of one minute apart, and every button short enough for a
phone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sessions import EventBus, FileSessionManager, FileSessionStorage, SessionConfig
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import CHAT, USER, is_text, launch
from tests.bot.test_e2e_library import in_chat, tap
from tests.bot.test_library_handlers import transcribed_session
from tests.fake_telegram import FakeTelegram, SentCall

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BERLIN = ZoneInfo("Europe/Berlin")
PHONE_WIDTH = 30  # characters of a button label a phone shows on one line


async def session_at(manager: FileSessionManager, text: str, local: datetime) -> str:
    """A transcribed session of CHAT saying ``text``, recorded at ``local`` (Berlin time):
    its folder and id moved to that moment, as if it had been made then. Its id."""
    made = await transcribed_session(manager, text)
    moment = local.astimezone(UTC)
    sid = f"{moment:%Y-%m-%d_%H-%M-%S}"
    folder = manager.get_session_path(made)
    data = json.loads((folder / "metadata.json").read_text())
    data["session_id"] = sid
    for key in ("created_at", "updated_at", "finalized_at", "transcribed_at", "delivered_at"):
        data[key] = moment.isoformat()
    for item in data["audio_entries"]:
        item["received_at"] = moment.isoformat()
    (folder / "metadata.json").write_text(json.dumps(data))
    folder.rename(folder.parent / sid)
    return sid


def label_day(local: datetime, now: datetime) -> str:
    """How a label writes the day: "Wed 2 Dec" (with the year when it is not this one)."""
    year = f" {local.year}" if local.year != now.astimezone(BERLIN).year else ""
    return f"{local:%a} {local.day} {local:%b}{year}"


async def get(fake: FakeTelegram, typed: str) -> SentCall:
    """/get ``typed``: the bot's first answer."""
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/get {typed}")
    return await fake.wait_for(in_chat(CHAT), since=since)


async def test_sessions_are_named_by_local_time_and_first_words(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    config = SessionConfig(base_dir=tmp_path / "sessions")
    manager = FileSessionManager(FileSessionStorage(config.base_dir), config, EventBus())
    now = datetime.now(UTC)
    today = now.astimezone(BERLIN).replace(second=0, microsecond=0)
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    # Two sessions in one minute two days ago; yesterday one at that minute and one at 18:10.
    bread = await session_at(
        manager,
        "Please remember to buy fresh bread & milk.",
        before.replace(hour=9, minute=46, second=10),
    )
    dentist = await session_at(
        manager, "Call the dentist on Monday morning.", before.replace(hour=9, minute=46, second=50)
    )
    coat = await session_at(
        manager,
        "The weather was very cold, so I wore my coat.",
        yesterday.replace(hour=18, minute=10),
    )
    kettle = await session_at(
        manager,
        "The orange kettle whistled.",
        yesterday.replace(hour=9, minute=46, second=30),
    )
    await launch(fake, tmp_path, running, TIMEZONE="Europe/Berlin")

    # /get by local time alone: one session at 18:10 local (17:10 UTC).
    coat_day = label_day(yesterday, now)
    got = await get(fake, "18:10")
    assert got.parse_mode == "HTML"
    assert (got.text or "").split("\n")[:3] == [
        f"Transcript: {coat_day}, 18:10 · “The weather was very cold, so I…”",
        "1 note, 0:02 · times in Europe/Berlin",
        f"Session id {coat}",  # the id stays, for power users, as a small line
    ]
    assert got.params["text"].startswith("<b>Transcript: ")
    assert (await get(fake, "yesterday 18:10")).text == got.text
    utc_time = await get(fake, "17:10")  # the UTC time names nothing here
    assert utc_time.text == "This chat has no session at 17:10 (times in Europe/Berlin). " + (
        "/history lists its sessions."
    )

    # By local date and time: 09:46 alone names three sessions; with the date, one.
    kettle_got = await get(fake, f"{yesterday:%Y-%m-%d} 09:46")
    assert (kettle_got.text or "").startswith(
        f"Transcript: {label_day(yesterday, now)}, 09:46 · “The orange kettle whistled.”\n"
    )
    assert f"Session id {kettle}" in (kettle_got.text or "")
    assert (await get(fake, kettle)).text == kettle_got.text  # the id still works

    # Ambiguous: the candidates come as buttons, newest first, told apart by their seconds.
    choice = await get(fake, "09:46")
    assert choice.text is not None
    assert choice.text.startswith("Several sessions match “09:46” (times in Europe/Berlin).")
    assert [data for _, data in choice.buttons()] == [
        f"get:{kettle}",
        f"get:{dentist}",
        f"get:{bread}",
    ]
    since = len(fake.sent)
    await tap(fake, CHAT, USER, choice, f"get:{bread}")
    tapped = await fake.wait_for(is_text(CHAT, f"Session id {bread}"), since=since)
    assert (tapped.text or "").startswith(
        f"Transcript: {label_day(before, now)}, 09:46 · “Please remember to buy fresh…”"
    )
    # ... as does a date that names two (in the day-month form people use).
    both = await get(fake, f"{before.day} {before:%b} 09:46")
    assert [data for _, data in both.buttons()] == [f"get:{dentist}", f"get:{bread}"]

    # /history: the zone said once, the two sessions of one minute told apart on a phone.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/history")
    history = await fake.wait_for(is_text(CHAT, "Your sessions"), since=since)
    assert history.text is not None
    assert history.text.count("Europe/Berlin") == 1
    assert "_" not in history.text  # no UTC id as a name
    assert f"4. {label_day(before, now)}, 09:46 · “Please remember to buy fresh…”" in history.text
    labels = [label for label, _ in history.buttons()]
    assert len(set(labels)) == len(labels) == 4
    assert labels[2].startswith(f"3. {before.day} {before:%b} 09:46:50 ")
    assert labels[3].startswith(f"4. {before.day} {before:%b} 09:46:10 ")
    assert labels[2][3:] != labels[3][3:]  # told apart without their numbers

    # /find names the session by its label too.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/find dentist")
    found = await fake.wait_for(in_chat(CHAT), since=since)
    assert f"1. {label_day(before, now)}, 09:46 · “Call the dentist on Monday…”, note 1:" in (
        found.text or ""
    )

    # /forget names sessions the same way; several matching: buttons that ask about one.
    since = len(fake.sent)
    fake.text(CHAT, USER, f"/forget {before.day} {before:%b} 09:46")
    which = await fake.wait_for(in_chat(CHAT), since=since)
    assert [data for _, data in which.buttons()] == [f"forgetask:{dentist}", f"forgetask:{bread}"]
    since = len(fake.sent)
    await tap(fake, CHAT, USER, which, f"forgetask:{dentist}")
    question = await fake.wait_for(is_text(CHAT, "Forget the session "), since=since)
    assert (question.text or "").startswith(
        f"Forget the session {label_day(before, now)}, 09:46 · “Call the dentist on Monday…” "
        "(1 note, 0:02; times in Europe/Berlin)?"
    )
    assert question.buttons()[0][1] == f"forget:{dentist}:1"

    # /status: the recent sessions by their labels, the zone said once.
    since = len(fake.sent)
    fake.text(CHAT, USER, "/status")
    status = await fake.wait_for(is_text(CHAT, "Recent sessions"), since=since)
    assert status.text is not None
    assert "Recent sessions (times in Europe/Berlin):" in status.text
    assert f"- {coat_day}, 18:10 · “The weather was very cold, so I…”: transcribed" in status.text
    assert status.text.count("Europe/Berlin") == 1
    assert coat not in status.text

    # Every button the bot sent fits a phone's line.
    shown = [label for call in fake.sent for label, _ in call.buttons()]
    assert len(shown) >= 10
    assert [label for label in shown if len(label) > PHONE_WIDTH] == []
