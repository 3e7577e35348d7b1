"""Speaker turns inside a recording, around the diarization engine: the step after Whisper
(a fake diarizer: the real one is in the end-to-end test), the session's numbering and
names, and how every written transcript reads them: ``process/input.txt``, ``session.md``,
``session.srt``. A note with one voice, or not diarized, reads exactly as before."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import pytest

from processing import MarkdownProcessor
from sessions import (
    FileSessionManager,
    Session,
    SessionFolder,
    SessionState,
    Speaker,
    SpeakerKind,
    Transcript,
    TranscriptSegment,
)
from sessions.chat_settings import ChatSettings
from sessions.turns import note_text, note_turns
from tests.conftest import FIXTURES, add_note
from tests.processing import output_dir, parse_srt
from tests.transcription.fakes import FakeWhisperModel
from transcription import TranscriptionSettings, WhisperTranscriber, transcribe_session
from transcription import speaker_turns as turns_module
from transcription.options import DEFAULT_OPTIONS, DecodeOptions
from transcription.pipeline import chat_options
from transcription.speaker_turns import SpeakerTurns, session_numbers

FAST = TranscriptionSettings(
    transcription_retries=0,
    transcription_retry_backoff_seconds=0.01,
    transcription_timeout_base_seconds=5,
)
A, B = [1.0, 0.0], [0.0, 1.0]


def seg(start: float, end: float, text: str, speaker: int | None = None) -> TranscriptSegment:
    return TranscriptSegment(start=start, end=end, text=text, speaker=speaker)


def diarized(*segments: TranscriptSegment, centroids: list[list[float]]) -> Transcript:
    text = " ".join(s.text.strip() for s in segments)
    return Transcript(text=text, segments=list(segments), speaker_centroids=centroids)


TWO_VOICES = diarized(
    seg(0, 2, " Hello there.", 0),
    seg(2, 4, " How are you?", 0),
    seg(4, 6, " Fine, thanks.", 1),
    seg(6, 8, " Good.", 0),
    centroids=[A, B],
)
ONE_VOICE = diarized(seg(0, 2, " Only me.", 0), seg(2, 4, " Still me.", 0), centroids=[A])


class StoredTranscriber:
    """Returns the transcript written into the note's audio file (as JSON), and records
    the options each note was decoded with."""

    def __init__(self) -> None:
        self.options: list[DecodeOptions] = []

    async def transcribe(self, path: Path, options: DecodeOptions = DEFAULT_OPTIONS) -> Transcript:
        self.options.append(options)
        return Transcript.model_validate_json(path.read_bytes())

    async def aclose(self) -> None:
        return None


async def session_of(
    manager: FileSessionManager,
    *notes: Transcript,
    chat_id: int = 1,
    fields: list[dict[str, Any]] | None = None,
) -> Session:
    session = await manager.create_session(chat_id=chat_id)
    for n, note in enumerate(notes):
        more = (fields or [{}] * len(notes))[n]
        data = note.model_dump_json().encode()
        await add_note(manager, session, message_id=n + 1, duration=8.0, data=data, **more)
    await manager.finalize_session(session.session_id)
    done = await transcribe_session(manager, StoredTranscriber(), session.session_id, FAST)
    assert done.state is SessionState.TRANSCRIBED
    return done


async def written(manager: FileSessionManager, session: Session) -> tuple[str, str, str]:
    folder = SessionFolder(manager.get_session_path(session.session_id))
    await MarkdownProcessor().run(session, folder)
    out = output_dir(manager, session)
    given = folder.read_process_input()
    assert given is not None
    return given, (out / "session.md").read_text(), (out / "session.srt").read_text()


@pytest.fixture
def linked(monkeypatch: pytest.MonkeyPatch) -> list[list[list[list[float]]]]:
    """link_speakers: the same centroid is the same voice across notes (what the engine
    does by cosine similarity, exactly)."""
    calls: list[list[list[list[float]]]] = []

    def link(notes: list[list[list[float]]]) -> list[list[int]]:
        calls.append(notes)
        seen: list[list[float]] = []
        numbers = []
        for centroids in notes:
            row = []
            for c in centroids:
                if c not in seen:
                    seen.append(c)
                row.append(seen.index(c) + 1)
            numbers.append(row)
        return numbers

    monkeypatch.setattr(turns_module, "_link_default", link)
    return calls


# -- the turns of one note -----------------------------------------------------------------


def test_a_note_of_two_voices_reads_in_turns_consecutive_segments_joined() -> None:
    session = Session(session_id="s", chat_id=1)
    assert note_text(session, 1, TWO_VOICES, TWO_VOICES.text) == (
        "Speaker 1: Hello there. How are you?\nSpeaker 2: Fine, thanks.\nSpeaker 1: Good."
    )


def test_one_voice_or_no_diarization_reads_exactly_as_before() -> None:
    session = Session(session_id="s", chat_id=1)
    plain = Transcript(text="Hello there.", segments=[seg(0, 2, "Hello there.")])
    for detail in (ONE_VOICE, plain, None):
        text = detail.text if detail else "words"
        assert note_turns(session, 1, detail) is None
        assert note_text(session, 1, detail, text) == text


def test_a_segment_without_a_voice_joins_the_turn_around_it() -> None:
    session = Session(session_id="s", chat_id=1)
    detail = diarized(
        seg(0, 1, "Um.", None),
        seg(1, 2, "Hi.", 1),
        seg(2, 3, "and so", None),
        seg(3, 4, "Yes.", 0),
        centroids=[A, B],
    )
    assert (
        note_text(session, 1, detail, detail.text) == "Speaker 2: Um. Hi. and so\nSpeaker 1: Yes."
    )


def test_session_numbers_and_names_replace_the_notes_own_order() -> None:
    session = Session(
        session_id="s", chat_id=1, speaker_numbers={"1": [3, 1]}, speaker_names={"1": "Anna"}
    )
    assert note_text(session, 1, TWO_VOICES, TWO_VOICES.text, "Sprecher {number}") == (
        "Sprecher 3: Hello there. How are you?\nAnna: Fine, thanks.\nSprecher 3: Good."
    )
    # Numbers that do not fit the note (a hand-edited file) fall back to its own order.
    odd = session.model_copy(update={"speaker_numbers": {"1": [2]}, "speaker_names": None})
    assert note_text(odd, 1, TWO_VOICES, TWO_VOICES.text).startswith("Speaker 1: Hello")


# -- the step after Whisper ----------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int


@dataclass(frozen=True)
class Found:
    turns: list[Turn]
    centroids: list[list[float]]


class FakeDiarizer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[int, int]] = []

    def diarize(self, audio: Any, sample_rate: int = 16000, speech: Any = None) -> Found:
        self.calls.append((len(audio), sample_rate))
        if self.fail:
            raise RuntimeError("the network broke")
        return Found([Turn(0, 4, 0), Turn(4, 6, 1), Turn(6, 8, 0)], [A, B])


def assign(spans: list[tuple[float, float]], turns: list[Turn]) -> list[int | None]:
    """Each span's speaker: the turn holding its middle."""
    found: list[int | None] = []
    for start, end in spans:
        middle = (start + end) / 2
        found.append(next((t.speaker for t in turns if t.start <= middle < t.end), None))
    return found


def test_the_step_gives_each_segment_its_voice_and_the_note_its_embeddings() -> None:
    fake = FakeDiarizer()
    turns = SpeakerTurns(2, load=lambda threads: fake, assign=assign)
    plain = Transcript(
        text="x", segments=[seg(0, 2, "a"), seg(2, 4, "b"), seg(4, 6, "c"), seg(6, 8, "d")]
    )
    audio = numpy.zeros(16000 * 8, dtype=numpy.float32)
    result = turns.apply(audio, plain, "note")
    assert [s.speaker for s in result.segments] == [0, 0, 1, 0]
    assert result.speaker_centroids == [A, B]
    assert fake.calls == [(16000 * 8, 16000)]


def test_a_failing_or_missing_diarizer_leaves_the_transcript_as_it_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plain = Transcript(text="x", segments=[seg(0, 2, "a")])
    audio = numpy.zeros(16000, dtype=numpy.float32)
    failing = SpeakerTurns(load=lambda threads: FakeDiarizer(fail=True), assign=assign)
    assert failing.apply(audio, plain) == plain
    loads: list[int] = []

    def unavailable(threads: int) -> FakeDiarizer:
        loads.append(threads)
        raise RuntimeError("no speaker model: install the diarization extra")

    missing = SpeakerTurns(load=unavailable, assign=assign)
    assert missing.apply(audio, plain) == plain
    assert missing.apply(audio, plain) == plain
    assert loads == [1]  # loaded once per process: a missing engine is not tried per note


async def test_the_chats_speakers_setting_counts_only_where_the_owner_enabled_it(
    manager: FileSessionManager,
) -> None:
    await manager.update_chat_settings(5, lambda s: s.with_speakers(True))
    asked: list[bool] = []
    for chat, owner in ((5, True), (5, False), (6, True)):  # chat 6: off by default
        session = await manager.create_session(chat_id=chat)
        await add_note(manager, session, data=ONE_VOICE.model_dump_json().encode())
        await manager.finalize_session(session.session_id)
        transcriber = StoredTranscriber()
        settings = FAST.model_copy(update={"diarization": owner})
        await transcribe_session(manager, transcriber, session.session_id, settings)
        asked += [o.diarize for o in transcriber.options]
    assert asked == [True, False, False]


async def test_a_job_carries_the_diarize_flag(manager: FileSessionManager) -> None:
    options = DecodeOptions.from_chat(ChatSettings(speakers=True))
    assert DecodeOptions.model_validate_json(options.model_dump_json()).diarize
    assert not (await chat_options(manager, 7)).diarize


# -- the session: numbering across notes, and every written transcript ---------------------


async def test_voices_are_numbered_across_the_notes_of_a_session(
    manager: FileSessionManager, linked: list[Any]
) -> None:
    second = diarized(seg(0, 2, "Back again.", 0), seg(2, 4, "Hello.", 1), centroids=[B, A])
    session = await session_of(manager, TWO_VOICES, second)
    assert session.speaker_numbers == {"1": [1, 2], "2": [2, 1]}
    assert linked == [[[A, B], [B, A]]]
    given, markdown, srt = await written(manager, session)
    assert given == (
        "Speaker 1: Hello there. How are you?\nSpeaker 2: Fine, thanks.\nSpeaker 1: Good.\n\n"
        "Speaker 2: Back again.\nSpeaker 1: Hello.\n"
    )
    assert "**Speaker 1:** Hello there. How are you?\n\n**Speaker 2:** Fine, thanks." in markdown
    cues = [cue.text for cue in parse_srt(srt)]
    assert cues == [
        "Speaker 1: Hello there.",
        "Speaker 1: How are you?",
        "Speaker 2: Fine, thanks.",
        "Speaker 1: Good.",
        "Speaker 2: Back again.",
        "Speaker 1: Hello.",
    ]
    metadata = json.loads(
        (manager.get_session_path(session.session_id) / "metadata.json").read_text()
    )
    assert metadata["speaker_numbers"] == {"1": [1, 2], "2": [2, 1]}


async def test_names_replace_numbers_in_every_written_transcript(
    manager: FileSessionManager, linked: list[Any]
) -> None:
    session = await session_of(manager, TWO_VOICES)
    named = await manager.name_speaker(session.session_id, 2, "  Anna\nSmith  ")
    assert named.speaker_names == {"2": "Anna Smith"}
    folder = manager.folder(session.session_id)
    from transcription.pipeline import consolidate

    folder.write_process_input(consolidate(folder, named))
    given, markdown, srt = await written(manager, named)
    assert given.startswith("Speaker 1: Hello there. How are you?\nAnna Smith: Fine, thanks.")
    assert "**Anna Smith:** Fine, thanks." in markdown
    assert "Anna Smith: Fine, thanks." in srt
    # Taken away again: the number is back.
    cleared = await manager.name_speaker(session.session_id, 2, None)
    assert cleared.speaker_names is None
    with pytest.raises(ValueError, match="no speaker number"):
        await manager.name_speaker(session.session_id, 0, "Nobody")


async def test_in_a_group_the_turns_sit_under_the_notes_own_label(
    manager: FileSessionManager, linked: list[Any]
) -> None:
    anna = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
    ben = Speaker(name="Ben", kind=SpeakerKind.USER, user_id=8)
    plain = Transcript(text="Just me.", segments=[seg(0, 2, "Just me.")])
    fields: list[dict[str, Any]] = [{"speaker": anna}, {"speaker": ben, "forwarded": True}]
    session = await session_of(manager, plain, TWO_VOICES, chat_id=-1001, fields=fields)
    given, markdown, srt = await written(manager, session)
    assert given == (
        "Anna: Just me.\n\nForwarded from Ben:\nSpeaker 1: Hello there. How are you?\n"
        "Speaker 2: Fine, thanks.\nSpeaker 1: Good.\n"
    )
    assert "· forwarded from Ben\n\n**Speaker 1:** Hello there." in markdown
    cues = [cue.text for cue in parse_srt(srt)]
    assert cues[0] == "Anna: Just me."
    assert cues[3] == "Forwarded from Ben (Speaker 2): Fine, thanks."


async def test_a_session_without_diarized_notes_reads_and_stores_as_before(
    manager: FileSessionManager, linked: list[Any]
) -> None:
    plain = Transcript(text="Hello there.", segments=[seg(0, 2, "Hello there.")])
    session = await session_of(manager, plain, ONE_VOICE)
    assert session.speaker_numbers == {"2": [1]}  # diarized, with one voice: no turns
    given, _, srt = await written(manager, session)
    assert given == "Hello there.\n\nOnly me. Still me.\n"
    assert "Speaker" not in srt
    session = await session_of(manager, plain)
    assert session.speaker_numbers is None
    assert len(linked) == 1  # only the first session had a diarized note
    folder = manager.get_session_path(session.session_id)
    stored = json.loads((folder / "transcripts" / "001_audio.json").read_text())
    assert "speaker_centroids" not in stored
    assert "speaker" not in stored["segments"][0]
    metadata = (folder / "metadata.json").read_text()
    assert json.loads(metadata)["speaker_numbers"] is None


def test_linking_that_fails_leaves_each_note_its_own_numbers(tmp_path: Path) -> None:
    session = Session(session_id="s", chat_id=1)

    class Folder:
        def read_transcript(self, sequence: int) -> Transcript:
            return TWO_VOICES

    def broken(notes: Any) -> list[list[int]]:
        return [[1]]  # one number for two voices: not an answer

    from sessions import AudioEntry, TranscriptionStatus

    session.audio_entries.append(
        AudioEntry(
            sequence=1,
            filename="001_audio.ogg",
            duration_seconds=1,
            transcription_status=TranscriptionStatus.COMPLETED,
        )
    )
    assert session_numbers(Folder(), session, broken) == {}  # type: ignore[arg-type]


# -- in the engine: after Whisper, in the note's thread, within its timeout -------------------


class SlowDiarizer(FakeDiarizer):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def diarize(self, audio: Any, sample_rate: int = 16000, speech: Any = None) -> Found:
        time.sleep(self.seconds)
        return super().diarize(audio, sample_rate, speech)


async def test_the_engine_diarizes_after_whisper_only_the_notes_that_ask() -> None:
    fake = FakeDiarizer()
    turns = SpeakerTurns(load=lambda threads: fake, assign=assign)
    model = FakeWhisperModel(segments=3)
    transcriber = WhisperTranscriber(FAST, turns)
    transcriber._model = model  # no load: the fake stands in for faster-whisper's model
    note = FIXTURES / "speech_01.ogg"
    try:
        plain = await transcriber.transcribe(note)
        asked = await transcriber.transcribe(note, DecodeOptions(diarize=True))
    finally:
        await transcriber.aclose()
    assert plain.speaker_centroids is None
    assert len(fake.calls) == 1  # only the note that asked
    samples, rate = fake.calls[0]
    assert rate == 16000
    assert 2.5 * 16000 < samples < 5 * 16000  # the note's audio, decoded once at 16 kHz
    assert [s.speaker for s in asked.segments] == [0, 0, 0]
    assert asked.speaker_centroids == [A, B]
    assert asked.text == plain.text


async def test_diarization_counts_against_the_notes_run_timeout() -> None:
    turns = SpeakerTurns(load=lambda threads: SlowDiarizer(1.5), assign=assign)
    transcriber = WhisperTranscriber(FAST, turns)
    transcriber._model = FakeWhisperModel(segments=2)
    note = FIXTURES / "speech_01.ogg"
    try:
        with pytest.raises(TimeoutError):
            await transcriber.transcribe_timed(note, 0.5, DecodeOptions(diarize=True))
        done = await transcriber.transcribe_timed(note, 0.5, DEFAULT_OPTIONS)
    finally:
        await transcriber.aclose()
    assert done.text == "word0 word1"


def test_the_diarizer_runs_on_one_blas_thread_whatever_whispers_count() -> None:
    """Whisper's 4 threads made the diarize step 1-3x the note's duration on 2 busy cores
    instead of 0.03x (BENCHMARKS.md): the bot's diarizer gets one BLAS thread, and so does
    the real diarizer it loads."""
    from bot.startup import speaker_turns_for  # imports aiogram: only this test

    settings = TranscriptionSettings(_env_file=None, diarization=True, whisper_cpu_threads=4)  # type: ignore[call-arg]
    turns = speaker_turns_for(settings)
    assert turns is not None
    assert turns.threads == 1
    assert SpeakerTurns().threads == 1  # the workers' (transcription/worker.py)
    assert speaker_turns_for(TranscriptionSettings(_env_file=None)) is None  # type: ignore[call-arg]
    loaded: list[int] = []

    def load(threads: int) -> FakeDiarizer:
        loaded.append(threads)
        return FakeDiarizer()

    SpeakerTurns(load=load).diarizer()
    assert loaded == [1]


async def test_the_written_notes_prompt_names_the_voices_as_the_turns_do(
    manager: FileSessionManager, linked: list[Any]
) -> None:
    """$speaker_rule: the voices inside the recordings by the names their turns carry
    ("Speaker 1", a name given), so a model keeps them; one person's notes otherwise."""
    from notes.prompting import Prompts
    from notes.source import read_source

    session = await session_of(manager, TWO_VOICES)
    named = await manager.name_speaker(session.session_id, 2, "Anna")
    folder = manager.folder(session.session_id)
    source = await read_source(folder, named, ChatSettings())
    assert source is not None
    assert source.context.voices == ["Speaker 1", "Anna"]
    prompt = Prompts().system("summary", source.context)
    assert "several voices: Speaker 1, Anna." in prompt
    assert "one person's notes" not in prompt

    anna = Speaker(name="Anna", kind=SpeakerKind.USER, user_id=7)
    ben = Speaker(name="Ben", kind=SpeakerKind.USER, user_id=8)
    plain = Transcript(text="Just me.", segments=[seg(0, 2, "Just me.")])
    fields: list[dict[str, Any]] = [{"speaker": anna}, {"speaker": ben, "forwarded": True}]
    group = await session_of(manager, plain, TWO_VOICES, chat_id=-1001, fields=fields)
    source = await read_source(manager.folder(group.session_id), group, ChatSettings())
    assert source is not None
    assert source.context.speakers == ["Anna", "Forwarded from Ben"]
    assert source.context.voices == ["Speaker 1", "Speaker 2"]
    rule = source.context.speaker_rule
    assert "The speakers are: Anna, Forwarded from Ben." in rule
    assert "Inside their recordings" in rule
    assert "Speaker 1, Speaker 2" in rule

    alone = await session_of(manager, ONE_VOICE, chat_id=5)
    source = await read_source(manager.folder(alone.session_id), alone, ChatSettings())
    assert source is not None
    assert source.context.voices == []
    assert "one person's notes" in source.context.speaker_rule
