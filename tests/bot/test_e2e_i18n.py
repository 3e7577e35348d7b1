"""End to end: the real bot answers each person in their Telegram language. In one group a
German and a Russian member get their own language, someone whose language has no catalog
gets English, the transcript (sent outside any update) is in the language of whoever
finished the session, dates are written in each reader's language (Babel's formats, in
TIMEZONE) and read in their words (/get heute), and the command menu and the descriptions
are registered per language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import dates, status_texts, texts
from bot.i18n import build_i18n, speaking
from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import DURATIONS, eventually, is_text, launch
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GROUP = -100_4242
GERMAN, RUSSIAN, PORTUGUESE = 3001, 3002, 3003
ZONE = "Asia/Kolkata"  # the bot's TIMEZONE: the dates are its local ones


def local_day(language: str, *, weekday: bool = True) -> str:
    """Today in the bot's zone as ``language`` writes it ("Mi., 2. Dez.", "2. Dez.")."""
    now = datetime.now(ZoneInfo(ZONE))
    with speaking(build_i18n(), language):
        return dates.weekday_day(now) if weekday else dates.day_month(now)


async def test_each_member_of_a_group_is_answered_in_their_language(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    await launch(fake, tmp_path, running, TIMEZONE=ZONE)
    i18n = build_i18n()

    since = len(fake.sent)
    fake.text(GROUP, GERMAN, "/help", chat_type="supergroup", language_code="de")
    await fake.wait_for(is_text(GROUP, "So funktioniert es:"), timeout=20, since=since)

    since = len(fake.sent)
    fake.text(GROUP, RUSSIAN, "/help", chat_type="supergroup", language_code="ru")
    await fake.wait_for(is_text(GROUP, "Как это работает:"), timeout=20, since=since)

    # A regional tag of a language with a catalog is that language.
    since = len(fake.sent)
    fake.text(GROUP, GERMAN, "/status", chat_type="supergroup", language_code="de-AT")
    with speaking(i18n, "de"):
        german_status = status_texts.status(None, [])
    await fake.wait_for(is_text(GROUP, german_status), timeout=20, since=since)

    # No catalog for Portuguese: English, exactly as an English speaker reads it.
    since = len(fake.sent)
    fake.text(GROUP, PORTUGUESE, "/help", chat_type="supergroup", language_code="pt-br")
    answer = await fake.wait_for(
        lambda c: c.chat_id == GROUP and c.text is not None, timeout=20, since=since
    )
    assert answer.text == texts.help_text(multilingual=False)  # tiny.en: no /lang

    # A German records, a Russian finishes: the transcript is in Russian.
    file_id = fake.add_file((FIXTURES / "speech_01.ogg").read_bytes())
    fake.voice(
        GROUP,
        GERMAN,
        file_id=file_id,
        duration=DURATIONS["speech_01.ogg"],
        chat_type="supergroup",
        language_code="de",
    )
    await fake.wait_reactions(GROUP, 1, timeout=20)
    since = len(fake.sent)
    fake.text(GROUP, RUSSIAN, "/done", chat_type="supergroup", language_code="ru")
    header = await fake.wait_for(is_text(GROUP, "Расшифровка: "), timeout=60, since=since)
    assert f"Расшифровка: {local_day('ru')}, " in (
        header.text or ""
    )  # the Russian weekday and month
    with speaking(i18n, "ru"):
        finished = texts.FINISHED
    await fake.wait_for(is_text(GROUP, finished), timeout=20, since=since)

    # A German's /history: the session by its German date, on its button too.
    since = len(fake.sent)
    fake.text(GROUP, GERMAN, "/history", chat_type="supergroup", language_code="de")
    history = await fake.wait_for(
        is_text(GROUP, "Die Sitzungen dieses Chats"), timeout=20, since=since
    )
    assert history.text is not None
    assert f"{local_day('de')}, " in history.text  # "Mi., 2. Dez., 09:46 · …"
    english = datetime.now(ZoneInfo(ZONE))
    assert f"{english:%a} {english.day} {english:%b}" not in history.text
    [(button, _)] = history.buttons()
    assert button.startswith(f"1. {local_day('de', weekday=False)} ")  # "1. 2. Dez. 09:46 …"

    # A date in the German's words names the session: its transcript again, in German.
    since = len(fake.sent)
    fake.text(GROUP, GERMAN, "/get heute", chat_type="supergroup", language_code="de")
    await fake.wait_for(is_text(GROUP, f"Transkript: {local_day('de')}, "), timeout=30, since=since)

    # The menu (an English-only model: no /lang) and the descriptions: English for
    # everyone, German and Russian for theirs.
    await eventually(lambda: {"de", "ru"} <= set(fake.by_language), timeout=20)
    await eventually(
        lambda: all(len(fake.by_language[lang]) == 3 for lang in ("de", "ru")), timeout=20
    )
    assert fake.commands == [
        {"command": c, "description": d} for c, d in texts.commands(multilingual=False)
    ]
    assert fake.description == texts.DESCRIPTION
    for lang in ("de", "ru"):
        with speaking(i18n, lang):
            commands = [
                {"command": c, "description": d} for c, d in texts.commands(multilingual=False)
            ]
            description, short = texts.DESCRIPTION, texts.SHORT_DESCRIPTION
        assert fake.by_language[lang] == {
            "commands": commands,
            "description": description,
            "short_description": short,
        }
        assert description != texts.DESCRIPTION
