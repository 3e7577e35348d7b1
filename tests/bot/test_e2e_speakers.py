"""End to end: who said what in a group. Two members' notes, a note forwarded from a user and
one from a channel, then /done: the real bot labels each note with its speaker in the
transcript, ``process/input.txt``, ``session.md`` and ``session.srt``, and records each
speaker in ``metadata.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bot.bot_process import BotProcess
from tests.bot.test_e2e import DURATIONS, REFERENCES, eventually, is_text, launch, metadata
from tests.conftest import FIXTURES
from tests.fake_telegram import FakeTelegram, origin_channel, origin_user
from tests.wer import word_error_rate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GROUP = -100555
ANNA, BEN = 11, 22


def group_voice(fake: FakeTelegram, name: str, user: int, first_name: str, **more: Any) -> int:
    file_id = fake.add_file((FIXTURES / name).read_bytes())
    return fake.voice(
        GROUP,
        user,
        file_id=file_id,
        duration=DURATIONS[name],
        chat_type="supergroup",
        first_name=first_name,
        **more,
    )


async def test_group_notes_and_forwards_are_labelled_with_their_speakers(
    fake: FakeTelegram, tmp_path: Path, running: list[BotProcess]
) -> None:
    # Only the members are let in: a forward counts as its sender's, whoever spoke in it.
    await launch(fake, tmp_path, running, ALLOWED_USER_IDS=f"{ANNA},{BEN}", PROCESSOR="markdown")
    notes = ["speech_01.ogg", "speech_02.ogg", "speech_01.ogg", "speech_01.ogg"]
    group_voice(fake, notes[0], ANNA, "Anna")
    group_voice(fake, notes[1], BEN, "Ben <&>")
    group_voice(fake, notes[2], ANNA, "Anna", forward_origin=origin_user(33, "Carol", "Diaz"))
    news = origin_channel(-100900, "Daily News", 17, signature="Eve")
    group_voice(fake, notes[3], BEN, "Ben <&>", forward_origin=news)

    def stored() -> int:
        found = metadata(tmp_path)
        return len(found[0]["audio_entries"]) if found else 0

    await eventually(lambda: stored() == 4, timeout=30)
    fake.text(GROUP, ANNA, "/done", chat_type="supergroup")
    transcript = await fake.wait_for(is_text(GROUP, "Transcript: "), timeout=90)
    assert transcript.text is not None
    _, *blocks = transcript.text.split("\n\n")
    headings = [block.split("\n", 1)[0] for block in blocks]
    assert [h.split(" · ", 3)[3] for h in headings] == [
        "Anna",
        "Ben <&>",
        "forwarded from Carol Diaz",
        "forwarded from Daily News (Eve)",
    ]
    assert "Ben &lt;&amp;&gt;" in transcript.params["text"]  # the name escaped in the HTML
    for block, name in zip(blocks, notes, strict=True):
        assert word_error_rate(REFERENCES[name], block.split("\n", 1)[1]) <= 0.3, block

    markdown = await fake.wait_for(lambda c: c.document_name == "session.md", timeout=30)
    srt = await fake.wait_for(lambda c: c.document_name == "session.srt", timeout=10)
    assert markdown.document_bytes is not None
    assert srt.document_bytes is not None
    document = markdown.document_bytes.decode()
    assert " · 0:03 · Anna\n" in document
    assert " · forwarded from Daily News (Eve)\n" in document
    subtitles = srt.document_bytes.decode()
    assert "\nBen <&>: " in subtitles
    assert "\nForwarded from Carol Diaz: " in subtitles

    [session] = metadata(tmp_path)
    entries = session["audio_entries"]
    assert [(e["speaker"]["kind"], e["speaker"]["name"], e["forwarded"]) for e in entries] == [
        ("user", "Anna", False),
        ("user", "Ben <&>", False),
        ("user", "Carol Diaz", True),
        ("channel", "Daily News", True),
    ]
    assert [e["speaker"]["user_id"] for e in entries[:3]] == [ANNA, BEN, 33]
    assert (entries[3]["speaker"]["chat_id"], entries[3]["speaker"]["signature"]) == (
        -100900,
        "Eve",
    )
    assert {e["kind"] for e in entries} == {"voice"}
    folder = tmp_path / "sessions" / session["session_id"]
    paragraphs = (folder / "process/input.txt").read_text().strip().split("\n\n")
    assert [p.split(": ", 1)[0] for p in paragraphs] == [
        "Anna",
        "Ben <&>",
        "Forwarded from Carol Diaz",
        "Forwarded from Daily News (Eve)",
    ]
    # Names are the members' own data: the log names them by id only.
    assert "Carol" not in running[0].output()
