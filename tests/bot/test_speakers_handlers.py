"""/speakers, fed in-process through the real dispatcher, the real session manager and the
fake Bot API (no model): the chat's switch, honoured only where the owner enabled
``DIARIZATION``; the names of a session's voices; what is refused and said."""

from __future__ import annotations

import pytest

from bot import speaker_texts as st
from bot import texts
from bot.i18n import build_i18n, speaking
from bot.services.parts import transcript_parts
from sessions import (
    FileSessionManager,
    SessionState,
    Speaker,
    SpeakerKind,
    Transcript,
    TranscriptionStatus,
    TranscriptSegment,
)
from tests.bot.test_handlers import CHAT, Harness
from tests.bot.test_handlers import harness as harness  # the fixture, reused
from tests.bot.test_library_handlers import transcribed_session
from tests.conftest import add_note

pytestmark = pytest.mark.timeout(60)


async def test_without_the_owners_diarization_speakers_on_is_refused_and_stores_nothing(
    harness: Harness, manager: FileSessionManager
) -> None:
    await harness.text("/speakers on")
    assert harness.replies()[-1] == st.SPEAKERS_NOT_ENABLED
    assert not (await manager.get_chat_settings(CHAT)).speakers
    await harness.text("/speakers")
    assert harness.replies()[-1].startswith(st.SPEAKERS_NOT_ENABLED)
    await harness.text("/speakers off")  # always allowed: it only confirms the default
    assert harness.replies()[-1] == st.speakers_set(False)
    await harness.text("/help")  # offers no /speakers, as the menu (texts.commands)
    assert "/speakers" not in harness.replies()[-1]


async def test_with_diarization_the_chat_turns_speakers_on_and_off(
    harness: Harness, manager: FileSessionManager
) -> None:
    harness.dp["diarization"] = True
    await harness.text("/speakers on")
    assert harness.replies()[-1] == st.speakers_set(True)
    assert (await manager.get_chat_settings(CHAT)).speakers
    await harness.text("/speakers")
    assert harness.replies()[-1].startswith("Speaker turns in this chat's recordings: on.")
    await harness.text("/speakers off")
    assert not (await manager.get_chat_settings(CHAT)).speakers
    await harness.text("/speakers please")
    assert harness.replies()[-1] == st.SPEAKERS_USAGE
    await harness.text("/help")  # offers /speakers, before /status, as the menu
    lines = harness.replies()[-1].split("\n")
    [at] = [i for i, line in enumerate(lines) if line.startswith("/speakers - ")]
    assert lines[at + 1].startswith("/status - ")
    assert "/lang - " not in harness.replies()[-1]  # the harness's model: English only


def test_the_menu_and_help_offer_speakers_only_with_diarization_in_each_language() -> None:
    i18n = build_i18n()
    for locale in ("en", "de", "ru"):
        with speaking(i18n, locale):
            plain = [c for c, _ in texts.commands(multilingual=True)]
            offered = [c for c, _ in texts.commands(multilingual=True, speakers=True)]
            assert "speakers" not in plain
            assert offered == [*plain[:-2], "speakers", *plain[-2:]]  # before status, help
            assert "/speakers" not in texts.help_text(multilingual=True)
            helped = texts.help_text(multilingual=False, speakers=True)
            assert "\n/speakers - " in helped
            assert "/lang" not in helped
            if locale != "en":  # translated, not English
                menu = texts.commands(multilingual=True, speakers=True)
                assert dict(menu)["speakers"] != "Who speaks when in a recording"
                assert "Speaker 1" not in helped


async def test_naming_a_voice_of_the_latest_session(
    harness: Harness, manager: FileSessionManager
) -> None:
    await harness.text("/speakers 1 Anna")
    assert harness.replies()[-1] == st.SPEAKERS_NO_SESSION
    sid = await transcribed_session(manager, "Hello there. Fine, thanks.")
    folder = manager.folder(sid)
    two_voices = Transcript(
        text="Hello there. Fine, thanks.",
        segments=[
            TranscriptSegment(start=0, end=2, text="Hello there.", speaker=0),
            TranscriptSegment(start=2, end=4, text="Fine, thanks.", speaker=1),
        ],
        speaker_centroids=[[1.0, 0.0], [0.0, 1.0]],
    )
    folder.write_transcript(1, two_voices)
    await manager.set_speaker_numbers(sid, {1: [1, 2]})

    await harness.text("/speakers 3 Carol")  # the session has two voices
    assert harness.replies()[-1] == st.speaker_unknown(3, 2)
    await harness.text("/speakers 2   Bob\u200b  Smith")
    answer = harness.replies()[-1]
    assert "Speaker 2 of the session" in answer
    assert "is now called Bob Smith." in answer
    assert "/get sends the transcript again" in answer
    session = await manager.require_session(sid)
    assert session.speaker_names == {"2": "Bob Smith"}
    assert session.state is SessionState.TRANSCRIBED
    # What written notes are made from has the name now.
    assert folder.read_process_input() == "Speaker 1: Hello there.\nBob Smith: Fine, thanks.\n"
    await harness.text("/speakers")
    assert "Speaker 1\nSpeaker 2: Bob Smith" in harness.replies()[-1]
    await harness.text("/speakers 2")
    assert "has no name now" in harness.replies()[-1]
    assert (await manager.require_session(sid)).speaker_names is None


async def test_the_chats_transcript_shows_turns_under_the_notes_label_in_its_language(
    manager: FileSessionManager,
) -> None:
    """In a group, a forwarded recording's turns sit inside its note, under its label;
    an unnamed voice is written in the chat's language."""
    ben = Speaker(name="Ben", kind=SpeakerKind.USER, user_id=8)
    session = await manager.create_session(-1001)
    await add_note(manager, session, message_id=1, speaker=ben, forwarded=True)
    sid = session.session_id
    await manager.finalize_session(sid)
    folder = manager.folder(sid)
    two_voices = Transcript(
        text="Hello there. Fine, thanks.",
        segments=[
            TranscriptSegment(start=0, end=2, text="Hello there.", speaker=0),
            TranscriptSegment(start=2, end=4, text="Fine, thanks.", speaker=1),
        ],
        speaker_centroids=[[1.0, 0.0], [0.0, 1.0]],
    )
    name = folder.write_transcript(1, two_voices)
    await manager.update_transcription_status(sid, 1, TranscriptionStatus.COMPLETED, name)
    await manager.set_speaker_numbers(sid, {1: [1, 2]})
    session = await manager.name_speaker(sid, 2, "Anna")
    with speaking(build_i18n(), "de"):
        parts = await transcript_parts(manager, session)
    [message] = [p.text for p in parts if p.text and "Hello" in p.text]
    assert "Transkript: " in message
    assert "“Hello there. Fine, thanks.”" in message  # the session's name: its words alone
    # The label stays as the group's notes are labelled today; the voices are the chat's.
    assert "· weitergeleitet: Ben</b>\nSprecher 1: Hello there.\nAnna: Fine, thanks." in message


async def test_a_name_given_after_processing_reaches_session_md_and_srt(
    harness: Harness, manager: FileSessionManager
) -> None:
    """With PROCESSOR=markdown the files /get sends again are written again with the name."""
    harness.dp["processor_label"] = "markdown"
    sid = await transcribed_session(manager, "Hello there. Fine, thanks.")
    folder = manager.folder(sid)
    folder.write_transcript(
        1,
        Transcript(
            text="Hello there. Fine, thanks.",
            segments=[
                TranscriptSegment(start=0, end=2, text="Hello there.", speaker=0),
                TranscriptSegment(start=2, end=4, text="Fine, thanks.", speaker=1),
            ],
            speaker_centroids=[[1.0, 0.0], [0.0, 1.0]],
        ),
    )
    await manager.set_speaker_numbers(sid, {1: [1, 2]})
    await manager.transition_state(sid, SessionState.PROCESSING)
    await manager.transition_state(sid, SessionState.PROCESSED)
    await harness.text("/speakers 2 Bob")
    assert "is now called Bob." in harness.replies()[-1]
    markdown = (folder.output_dir / "session.md").read_text()
    assert "**Speaker 1:** Hello there.\n\n**Bob:** Fine, thanks." in markdown
    assert "Bob: Fine, thanks." in (folder.output_dir / "session.srt").read_text()
