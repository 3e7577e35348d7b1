"""The update journal: keyed to the bot, loud about corruption, bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.updates import journal as journal_module
from bot.updates.journal import MAX_AGE_SECONDS, UpdateJournal

BOT = 123456


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_journal_of_another_bot_is_ignored_and_logged(tmp_path: Path) -> None:
    path = tmp_path / "updates.json"
    first = UpdateJournal(path)
    await first.load(BOT)
    await first.record(500)
    other = UpdateJournal(path)
    with capture_logs() as logs:
        await other.load(654321)
    assert not other.is_handled(500)
    assert [e["event"] for e in logs] == ["update_journal_other_bot"]
    same = UpdateJournal(path)
    await same.load(BOT)
    assert same.is_handled(500)


async def test_lower_ids_are_new_not_handled(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path / "updates.json")
    await journal.load(BOT)
    await journal.record(1000)
    assert not journal.is_handled(10)  # a watermark would have said "handled"
    assert journal.is_reset(10)
    assert not journal.is_reset(1001)


async def test_old_format_watermark_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "updates.json"
    path.write_text(json.dumps({"watermark": 1000, "handled": [1001, 1002]}))
    journal = UpdateJournal(path)
    await journal.load(BOT)
    assert journal.is_handled(1001)
    assert not journal.is_handled(10)


async def test_corrupt_journal_is_kept_aside_and_logged(tmp_path: Path) -> None:
    path = tmp_path / "updates.json"
    path.write_text('{"handled": [[1, 2')  # cut off mid-write by a full disk
    clock = Clock()
    journal = UpdateJournal(path, clock=clock)
    with capture_logs() as logs:
        await journal.load(BOT)
    [event] = logs
    assert event["event"] == "update_journal_corrupt"
    assert event["log_level"] == "warning"
    assert event["path"] == str(path)
    aside = tmp_path / f"updates.json.corrupt-{int(clock.now)}"
    assert event["kept_as"] == str(aside)
    assert aside.read_text() == '{"handled": [[1, 2'
    assert not path.exists()
    await journal.record(3)  # and the journal works again
    assert json.loads(path.read_text())["handled"] == [[3, clock.now]]


async def test_journal_stays_bounded_by_age_and_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    path = tmp_path / "updates.json"
    journal = UpdateJournal(path, clock=clock)
    await journal.load(BOT)
    await journal.record(1)
    clock.now += MAX_AGE_SECONDS + 1  # Telegram cannot redeliver update 1 any more
    await journal.record(2)
    assert not journal.is_handled(1)
    assert [i for i, _ in json.loads(path.read_text())["handled"]] == [2]

    monkeypatch.setattr(journal_module, "MAX_REMEMBERED", 50)
    for update_id in range(100, 300):  # webhook mode: nothing is ever confirmed
        clock.now += 1
        await journal.record(update_id)
    stored = [i for i, _ in json.loads(path.read_text())["handled"]]
    assert len(stored) == 50
    assert set(stored) == set(range(250, 300))  # the newest are kept


async def test_confirmed_ids_are_forgotten(tmp_path: Path) -> None:
    journal = UpdateJournal(tmp_path / "updates.json")
    await journal.load(BOT)
    for update_id in (5, 6, 7):
        await journal.record(update_id)
    journal.forget_confirmed(7)
    await journal.record(8)
    stored = UpdateJournal(journal.path)
    await stored.load(BOT)
    assert sorted(stored.handled) == [7, 8]


async def test_a_reset_is_followed_and_old_ids_may_come_again(tmp_path: Path) -> None:
    clock = Clock()
    journal = UpdateJournal(tmp_path / "updates.json", clock=clock)
    await journal.load(BOT)
    await journal.record(1000)
    await journal.record(40)
    clock.now += MAX_AGE_SECONDS + 1  # a week without updates, then numbering afresh
    assert journal.is_reset(30)
    journal.follow_reset(30)
    assert not journal.is_reset(31)  # not every later update is logged as a reset
    assert not journal.is_handled(40)  # an id handled long ago is new again
