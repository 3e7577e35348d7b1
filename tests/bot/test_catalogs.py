"""The catalogs: every message the bot can say is translated in every language, keeps the
English placeholders, still fits Telegram's limits, and the compiled .mo files match their
.po sources. Plus the texts themselves switching language, plural forms included."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from bot import catalogs, texts
from bot.callbacks import BUTTON_LABELS
from bot.i18n import build_i18n, locales, speaking
from bot.session_labels import BUTTON_LIMIT
from bot.texts import MESSAGE_LIMIT

LANGUAGES = ["de", "ru"]
# Telegram's own limits on the texts registered with the bot (characters).
COMMAND_DESCRIPTION_LIMIT = 256
DESCRIPTION_LIMIT = 512
SHORT_DESCRIPTION_LIMIT = 120


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalogs.extract()


def test_the_shipped_languages_are_german_and_russian() -> None:
    assert catalogs.languages() == LANGUAGES
    assert locales(build_i18n()) == ["en", *LANGUAGES]


def test_the_source_marks_messages(template: Catalog) -> None:
    ids = {m.id for m in template if m.id}
    assert len(ids) > 50
    assert texts.DESCRIPTION in ids


@pytest.mark.parametrize("locale", LANGUAGES)
def test_every_message_is_translated(template: Catalog, locale: str) -> None:
    catalog = catalogs.read(locale)
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None or found.fuzzy:
            missing.append(message.id)
            continue
        _, translated = catalogs.forms(found)
        if not all(translated):
            missing.append(message.id)
    assert missing == []


@pytest.mark.parametrize("locale", LANGUAGES)
def test_translations_keep_the_english_placeholders(template: Catalog, locale: str) -> None:
    catalog = catalogs.read(locale)
    wrong = []
    for message in template:
        found = catalog.get(message.id) if message.id else None
        if found is None:
            continue
        english, translated = catalogs.forms(found)
        # Each form names what the English singular or plural names: "its note" may leave
        # the count out where the English singular does (a Russian "one" form, also used for
        # 21, keeps it).
        expected = [catalogs.placeholders(e) for e in english]
        for form in translated:
            if catalogs.placeholders(form) not in expected:
                wrong.append((english[0], form))
    assert wrong == []


@pytest.mark.parametrize("locale", LANGUAGES)
def test_translations_fit_telegram(template: Catalog, locale: str) -> None:
    catalog = catalogs.read(locale)
    bounded = {
        **dict.fromkeys(BUTTON_LABELS, BUTTON_LIMIT),
        texts.DESCRIPTION: DESCRIPTION_LIMIT,
        texts.SHORT_DESCRIPTION: SHORT_DESCRIPTION_LIMIT,
        **{d: COMMAND_DESCRIPTION_LIMIT for _, d in texts.COMMANDS},
    }
    too_long = []
    for message in template:
        found = catalog.get(message.id) if message.id else None
        if found is None:
            continue
        english, translated = catalogs.forms(found)
        limit = bounded.get(english[0], MESSAGE_LIMIT)
        too_long += [form for form in translated if len(form) > limit]
    assert too_long == []


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_compiled_catalogs_match_their_sources(locale: str) -> None:
    shipped = catalogs.po_path(locale).with_suffix(".mo").read_bytes()
    assert shipped == catalogs.compiled(catalogs.read(locale)), "run: python -m bot.catalogs"


def test_texts_are_english_outside_an_update() -> None:
    assert texts.START.startswith("New session started.")
    assert texts.notes(1) == "1 note"
    assert texts.notes(2) == "2 notes"


def test_texts_follow_the_current_language() -> None:
    i18n = build_i18n()
    with speaking(i18n, "de"):
        assert texts.START.startswith("Neue Sitzung gestartet.")
        assert texts.notes(1) == "1 Nachricht"
        assert texts.notes(3) == "3 Nachrichten"
        assert dict(texts.commands(multilingual=True))["done"] == (
            "Sitzung beenden, Transkript erhalten"
        )
    with speaking(i18n, "ru"):
        assert texts.notes(1) == "1 сообщение"
        assert texts.notes(3) == "3 сообщения"
        assert texts.notes(5) == "5 сообщений"
        assert texts.notes(21) == "21 сообщение"
        assert texts.megabytes(3 * 1024 * 1024) == "3.0 МБ"
    with speaking(i18n, "en"):
        assert texts.START.startswith("New session started.")
    assert texts.START.startswith("New session started.")


def test_an_unknown_constant_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = texts.NO_SUCH_TEXT  # type: ignore[attr-defined]
