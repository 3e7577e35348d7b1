"""The written transcripts label who said what: ``process/input.txt`` (written by the
transcription stage), ``session.md`` and ``session.srt``, when a session has more than one
speaker or a forwarded note; one person's own notes read exactly as before."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from processing import MarkdownProcessor
from sessions import FileSessionManager, Session, SessionFolder, Speaker, SpeakerKind
from tests.processing import output_dir, parse_srt, transcribed_session

ANNA = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
BEN = Speaker(name="Ben *the* <boss>", kind=SpeakerKind.USER, user_id=8)
CHANNEL = Speaker(name="Daily News", kind=SpeakerKind.CHANNEL, chat_id=-100900, signature="Eve")

NOTES = (("text:one", 5.0), ("text:two", 5.0), ("text:three", 5.0))
GROUP = -1001  # groups have negative chat ids, private chats their user's (positive) id


async def outputs(manager: FileSessionManager, session: Session) -> tuple[str, str, str]:
    """input.txt, session.md and session.srt of ``session``, after the markdown processor."""
    folder = SessionFolder(manager.get_session_path(session.session_id))
    await MarkdownProcessor().run(session, folder)
    out = output_dir(manager, session)
    given = folder.read_process_input()
    assert given is not None
    return given, (out / "session.md").read_text(), (out / "session.srt").read_text()


async def test_group_notes_are_labelled_in_every_written_transcript(
    manager: FileSessionManager,
) -> None:
    fields: list[dict[str, Any]] = [
        {"speaker": ANNA, "kind": "voice"},
        {"speaker": BEN, "kind": "document", "original_filename": "call_1.m4a"},
        {"speaker": CHANNEL, "forwarded": True, "kind": "voice"},
    ]
    session = await transcribed_session(manager, *NOTES, fields=fields, chat_id=GROUP)
    given, markdown, srt = await outputs(manager, session)

    assert given == (
        "Anna: one\n\nBen *the* <boss>: two\n\nForwarded from Daily News (Eve): three\n"
    )
    times = [f"{e.received_at.astimezone(UTC):%H:%M:%S} UTC" for e in session.audio_entries]
    assert f"## Note 1 · {times[0]} · 0:05 · Anna\n\none\n" in markdown
    # Names are the senders' own words: never markup.
    assert f"## Note 2 · {times[1]} · 0:05 · call\\_1.m4a · Ben \\*the\\* \\<boss\\>\n" in markdown
    assert f"## Note 3 · {times[2]} · 0:05 · forwarded from Daily News (Eve)\n" in markdown
    assert [cue.text for cue in parse_srt(srt)] == [
        "Anna: one",
        "Ben *the* <boss>: two",
        "Forwarded from Daily News (Eve): three",
    ]


async def test_one_persons_notes_read_exactly_as_before(manager: FileSessionManager) -> None:
    """The same notes recorded with their one speaker, and recorded with no speaker at all
    (as before speakers were recorded): the same files, word for word."""
    labelled = await transcribed_session(  # in a group: no chat type hides the names
        manager, *NOTES, fields=[{"speaker": ANNA, "kind": "voice"}] * 3, chat_id=GROUP
    )
    plain = await transcribed_session(manager, *NOTES, chat_id=GROUP)
    mine, anonymous = await outputs(manager, labelled), await outputs(manager, plain)
    assert mine[0] == anonymous[0] == "one\n\ntwo\n\nthree\n"
    assert [cue.text for cue in parse_srt(mine[2])] == ["one", "two", "three"]
    assert mine[2] == anonymous[2]
    # session.md differs only in the session's id and times.
    assert _timeless(mine[1], labelled) == _timeless(anonymous[1], plain)
    assert "Anna" not in mine[1]
    assert mine[1].count("## Note") == 3


def _timeless(markdown: str, session: Session) -> str:
    without_id = markdown.replace(session.session_id, "<id>")
    return re.sub(r"\d{4}-\d{2}-\d{2} |\d{2}:\d{2}(:\d{2})?", "<time>", without_id)


async def test_a_forwarded_note_labels_one_persons_session(manager: FileSessionManager) -> None:
    fields = [{"speaker": ANNA}, {"speaker": ANNA, "forwarded": True}, {"speaker": ANNA}]
    in_group = await transcribed_session(manager, *NOTES, fields=fields, chat_id=GROUP)
    given, _, _ = await outputs(manager, in_group)
    assert given == "Anna: one\n\nForwarded from Anna: two\n\nAnna: three\n"


async def test_a_private_chat_names_only_the_forwards_origin(manager: FileSessionManager) -> None:
    """In a private chat every note not forwarded is the owner's own: their name beside it
    says nothing; a forwarded note is still named by where it came from."""
    fields = [{"speaker": ANNA}, {"speaker": BEN, "forwarded": True}, {"speaker": ANNA}]
    private = await transcribed_session(manager, *NOTES, fields=fields, chat_id=7)
    given, markdown, srt = await outputs(manager, private)
    assert given == "one\n\nForwarded from Ben *the* <boss>: two\n\nthree\n"
    assert "Anna" not in markdown
    assert "Anna" not in srt
