"""The prompts are files, one per style, each with the rules a note must follow; the owner's
folder overrides any of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from notes.prompting import BUNDLED, NAMES, Context, Prompts
from notes.styles import Style


def test_every_style_has_a_prompt_file_with_the_rules() -> None:
    for style in Style:
        assert (BUNDLED / f"{style.value}.md").is_file()
    prompts = Prompts()
    context = Context(language="de", speakers=["Anna", "Forwarded from Ben"])
    for name in NAMES:
        text = prompts.system(name, context, instruction="Make it a haiku", part=2, parts=3)
        assert "$" not in text, name
        assert 'ISO 639 code is "de"' in text, name
        assert "Anna, Forwarded from Ben" in text, name
        assert "invent" in text.lower(), name  # nothing invented
    custom = prompts.system("custom", context, instruction="Make it a haiku")
    assert "Make it a haiku" in custom
    assert "part 2 of\n3" in prompts.system("condense", context, part=2, parts=3).replace(
        "part 2 of 3", "part 2 of\n3"
    )


def test_without_language_or_speakers_the_prompt_says_so() -> None:
    text = Prompts().system("summary", Context(language=None))
    assert "same language as the transcript" in text
    assert "one person's notes" in text


def test_an_instruction_is_inserted_as_it_is_never_expanded() -> None:
    text = Prompts().system("custom", Context(None), instruction="Say $language_rule ${x} $$")
    assert "Say $language_rule ${x} $$" in text


def test_the_owners_folder_overrides_a_prompt(tmp_path: Path) -> None:
    (tmp_path / "summary.md").write_text("Owner's summary rules. $language_rule.\n")
    (tmp_path / "todo.md").write_bytes(b"\xff\xfe not utf-8")  # unusable: bundled serves
    (tmp_path / "clean.md").mkdir()  # not a file: bundled serves
    prompts = Prompts(tmp_path)
    assert prompts.system("summary", Context("fr")) == (
        'Owner\'s summary rules. Write in the language whose ISO 639 code is "fr", '
        "whatever language the text is in."
    )
    assert prompts.template("todo") == Prompts().template("todo")
    assert prompts.template("clean") == Prompts().template("clean")
    # Edited while running: the next note uses the new text.
    (tmp_path / "summary.md").write_text("Changed.")
    assert prompts.template("summary") == "Changed."


def test_only_known_prompt_names_are_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no prompt"):
        Prompts(tmp_path).template("../../etc/passwd")


def test_the_voices_inside_recordings_are_named_as_the_turns_name_them() -> None:
    prompts = Prompts()
    voices = Context(language=None, voices=["Speaker 1", "Anna", "Speaker 3"])
    for name in NAMES:
        text = prompts.system(name, voices)
        assert "several voices: Speaker 1, Anna, Speaker 3." in text, name
        assert "one person's notes" not in text, name
    both = Context(language=None, speakers=["Ben"], voices=["Speaker 1", "Speaker 2"])
    rule = both.speaker_rule
    assert rule.startswith("The speakers are: Ben.")
    assert "each voice's turn begins with its name and a colon: Speaker 1, Speaker 2" in rule
