"""Imported once by the bot processes' fork server (:mod:`tests.bot.bot_fork`): what
``python -m bot`` imports before its first poll, less every module that would start a thread
at import (a fork keeps only the forking thread, so such a library would be broken in the
bot).

The Telegram library and its models come first (about ten seconds: the point of it all).
Then the bot's own modules, with the thread-starting libraries (:data:`LEFT_TO_THE_BOT`:
numpy's BLAS starts its pool at import; the Whisper runtime) refused while they load: a
first-party module that needs one is not preloaded (it and whatever it brought in are
dropped again, whole), and the bot imports it itself, as ``python -m bot`` would. A
third-party module asking for one is not dropped silently (it might fall back to something
else): that stops the server, so the suite says which."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

LIBRARIES = [
    "pydantic",
    "pydantic_settings",
    "structlog",
    "aiohttp",
    "aiogram",
    "aiogram.types",
    "aiogram.methods",
    "aiogram.exceptions",
    "aiogram.utils.i18n",
    "aiogram.client.session.aiohttp",
    "babel",
]
OWN = ["bot.config", "runtime.log_setup", "bot.startup", "bot.app"]
FIRST_PARTY = ("bot", "runtime", "sessions", "library", "transcription", "processing", "notes")
LEFT_TO_THE_BOT = (
    "numpy",
    "av",
    "ctranslate2",
    "onnxruntime",
    "faster_whisper",
    "tokenizers",
    "huggingface_hub",
)


class LeftToTheBot(ImportError):
    """A module of :data:`LEFT_TO_THE_BOT` was asked for while preloading."""


def _importer() -> str:
    """The module whose import statement is running (the first frame outside importlib)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
        frame = frame.f_back  # type: ignore[assignment]
    return "" if frame is None else str(frame.f_globals.get("__name__", ""))


class _Guard(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in LEFT_TO_THE_BOT:
            return None
        importer = _importer()
        if importer.partition(".")[0] in FIRST_PARTY:
            if os.environ.get("PRELOAD_DEBUG"):
                print("left", fullname, importer, file=sys.stderr)
            raise LeftToTheBot(f"{fullname} (for {importer}) is left to the bot process")
        raise RuntimeError(
            f"preloading the bot: {importer} imports {fullname}, which starts threads at"
            " import; take it out of tests/bot/bot_preload.py"
        )


def _drop(names: set[str]) -> None:
    """Forget modules imported by a failed attempt, and their names on kept parents."""
    for name in names:
        module = sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        if parent and getattr(sys.modules.get(parent), child, None) is module:
            delattr(sys.modules[parent], child)


def _attempt(name: str) -> list[str]:
    """Import ``name``; if it needs a library left to the bot, undo the attempt and return
    the modules it had brought in (in the order their imports began)."""
    before = set(sys.modules)
    try:
        importlib.import_module(name)
    except LeftToTheBot:
        brought = [m for m in sys.modules if m not in before]
        _drop(set(brought))
        return brought
    return []


def preload() -> None:
    for name in LIBRARIES:
        importlib.import_module(name)
    guard = _Guard()
    sys.meta_path.insert(0, guard)
    try:
        for name in OWN:
            # What the failed attempt brought in, one module at a time, the last begun first:
            # each that does without the libraries left to the bot is kept.
            for module in reversed(_attempt(name)):
                if module not in sys.modules:
                    _attempt(module)
    finally:
        sys.meta_path.remove(guard)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise RuntimeError(f"preloading the bot left {threads} threads; a fork keeps one")


preload()
