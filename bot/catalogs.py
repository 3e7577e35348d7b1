"""Keeping the catalogs: the English messages read from the source, each language's ``.po``
brought up to date with them and compiled to the ``.mo`` the bot loads.

    python -m bot.catalogs          # extract, update every .po, compile every .mo

The ``.mo`` files are kept in the repository beside their sources (nothing to build at
install); ``tests/bot/test_catalogs.py`` fails when one no longer matches its ``.po``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LOCALES_DIR

SOURCE_DIR = Path(__file__).parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")


def extract() -> Catalog:
    """Every English message the bot's source marks for translation."""
    catalog = Catalog(domain=DOMAIN, project="voice-notes-bot")
    method_map = [("**.py", "python")]
    # No line numbers: the catalogs change when a text does, not when code around it moves.
    for _file, _line, message, comments, _context in extract_from_dir(
        SOURCE_DIR, method_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        catalog.add(message, None, auto_comments=comments)
    return catalog


def po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages() -> list[str]:
    """The languages with a catalog (English, the source, has none)."""
    return sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read(locale: str) -> Catalog:
    with po_path(locale).open("rb") as file:
        return read_po(file, locale=locale, domain=DOMAIN)


def compiled(catalog: Catalog) -> bytes:
    """``catalog`` as a ``.mo`` file (fuzzy entries left out, as gettext does)."""
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def placeholders(text: str) -> list[str]:
    """The ``{name}`` fields of ``text``, sorted (what a translation must keep)."""
    return sorted(_PLACEHOLDER.findall(text))


def forms(message: Message) -> tuple[list[str], list[str]]:
    """(English forms, translated forms) of a message, singular and plural alike."""
    ids = list(message.id) if isinstance(message.id, tuple | list) else [message.id]
    strings = message.string
    translated = list(strings) if isinstance(strings, tuple | list) else [strings]
    return [str(i) for i in ids], [str(s) for s in translated]


def update(template: Catalog, locales: Iterable[str]) -> None:
    """Write the template, and each language's ``.po`` merged with it and its ``.mo``."""
    with TEMPLATE.open("wb") as file:
        write_po(file, template, omit_header=False, sort_output=False, width=96)
    for locale in locales:
        catalog = read(locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False  # the header: a finished catalog, not a draft
        with po_path(locale).open("wb") as file:
            write_po(file, catalog, width=96, ignore_obsolete=True, omit_header=False)
        po_path(locale).with_suffix(".mo").write_bytes(compiled(read(locale)))


if __name__ == "__main__":
    update(extract(), languages())
