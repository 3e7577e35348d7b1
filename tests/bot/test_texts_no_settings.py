"""Chat texts speak plain words: no environment variable or setting name, except where a
stranger (who may be the owner) is told how to let themselves in."""

from __future__ import annotations

import ast
import inspect
import re
from types import ModuleType

import pytest

from bot import (
    chat_settings_texts,
    library_texts,
    note_texts,
    speaker_texts,
    status_texts,
    texts,
)
from sessions import ChatSettings

SETTING_NAME = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
# The one text that may name a setting: the owner, refused, needs to know where their id goes.
ALLOWED = {(texts, "access_closed")}
MB = 1024 * 1024


def _string_literals(node: ast.AST) -> list[str]:
    """Every string literal under ``node`` (f-string parts included), docstrings left out."""
    docstrings = set()
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
    return [
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


@pytest.mark.parametrize(
    "module",
    [texts, status_texts, library_texts, chat_settings_texts, note_texts, speaker_texts],
    ids=lambda m: m.__name__,
)
def test_no_setting_name_in_any_text_of_the_source(module: ModuleType) -> None:
    """Every string in the module's source, constants and the pieces of each function's
    f-strings alike: a new text naming a setting fails here."""
    tree = ast.parse(inspect.getsource(module))
    offenders = []
    for statement in tree.body:
        name = getattr(statement, "name", None)
        if (module, name) in ALLOWED:
            continue
        for literal in _string_literals(statement):
            offenders += [(name, m) for m in SETTING_NAME.findall(literal)]
    assert offenders == []


def test_rendered_refusals_and_status_name_no_setting() -> None:
    rendered = [
        texts.too_long(95, 60),
        texts.too_big(25 * MB, 20 * MB),
        texts.too_big_unannounced(20 * MB),
        status_texts.status(None, [], None),
        status_texts.status(None, [], "markdown"),
        texts.not_saved_download_failed(4),
        texts.HELP,
        texts.HINT,
        texts.NOT_AUDIO_FILE,
        texts.DESCRIPTION,
        texts.SHORT_DESCRIPTION,
        library_texts.retention(None, None),
        library_texts.retention(30, 90),
        chat_settings_texts.lang_english_only(ChatSettings(language="de")),
        chat_settings_texts.status_lines(ChatSettings(), None, multilingual=False),
    ]
    for text in rendered:
        assert SETTING_NAME.search(text) is None, text


def test_the_stranger_refusal_names_where_their_id_goes() -> None:
    text = texts.access_closed(987654321)
    assert "987654321" in text
    assert SETTING_NAME.findall(text) == ["ALLOWED_USER_IDS"]
