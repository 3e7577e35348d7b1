"""``/ask``: a question answered from the chat's own notes, with the notes it came from.

1. Retrieval, strictly within the chat (and within one session when the question replies to
   it): BM25 from the search index over the question's content words
   (:mod:`library.passages`), and, with ``LLM_EMBEDDING_MODEL`` set, the nearest
   notes by embedding, the two combined by reciprocal rank fusion. Whether anything is
   relevant is decided by the words a note shares with the question, not by a model: when
   nothing is, the answer is :attr:`Outcome.NOTHING`.
2. The passages (a note each, with its session's date and speakers) are bounded by
   ``LLM_CONTEXT_TOKENS`` and sent with the prompt ``notes/prompts/ask.md``.
3. Every reference the model writes is checked against the passages sent; the invalid ones
   are dropped. An answer left with none, a model that fails, or no model at all: the
   passages themselves, ranked (:attr:`Outcome.PASSAGES`).

Model calls take one of ``LLM_CONCURRENCY`` slots of their own, with the client's timeout
and bounded retries; they run in the asking chat's update only, so no other chat waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from enum import StrEnum

import structlog

from library.index import LibraryError, SessionLibrary
from library.passages import (
    Candidate,
    bm25_candidates,
    content_words,
    fuse,
    notes_by_id,
    relevant,
)
from library.vectors import VectorCache, VectorKeeper, to_blob
from notes.ask_passages import (
    Passage,
    bound,
    check_references,
    clean,
    excerpt,
    shorten,
    user_message,
)
from notes.client import ModelClient, ModelError
from notes.prompting import Prompts
from notes.settings import NoteSettings
from notes.tokens import estimate_tokens
from sessions import Session, SessionManager
from sessions.events import NotesChanged, SessionCancelled, SessionDeleted, StateChanged

CANDIDATES = 40
"""Notes retrieved by each method before fusion."""
MAX_PASSAGES = 8
"""Passages sent to the model at most (and shown without one: :data:`SHOWN_PASSAGES`)."""
SHOWN_PASSAGES = 5
SHOWN_TOKENS = 80
"""A passage shown without an answer: its part about the question, about 250 characters."""
ANSWER_TOKENS = 400
"""The answer's length, asked of the model (a few sentences need far less)."""
MARGIN_TOKENS = 200
"""Kept free of the context: the chat template's own tokens, and the estimate's error."""

_log = structlog.get_logger("notes.ask")


class Outcome(StrEnum):
    ANSWER = "answer"  # the model's answer, with checked references
    PASSAGES = "passages"  # the best-matching passages themselves
    NOTHING = "nothing"  # nothing in the chat's notes is about the question


@dataclass(frozen=True)
class AskResult:
    """What ``/ask`` answers. ``answer``: the model's text (untrusted: escape it) with its
    references renumbered 1..n to match ``passages``; ``passages``: for ANSWER the ones
    cited, for PASSAGES the best ones ranked. ``reason``: why a model that is set up gave
    no answer (its failure, or an answer citing nothing it was given)."""

    outcome: Outcome
    passages: list[Passage] = field(default_factory=list)
    answer: str = ""
    reason: str | None = None


NO_VALID_REFERENCES = "the language model's answer did not point to your notes"


class AskService:
    """Answers questions from a chat's library; see the module's docstring."""

    def __init__(
        self,
        manager: SessionManager,
        library: SessionLibrary,
        settings: NoteSettings,
        *,
        zone: tzinfo = UTC,
        client: ModelClient | None = None,
    ) -> None:
        self._manager = manager
        self._library = library
        self._settings = settings
        self._zone = zone
        self._own_client = None
        if client is None and settings.enabled:
            client = self._own_client = ModelClient(settings)
        self._client = client
        self._prompts = Prompts(settings.llm_prompts_dir)
        self._slots = asyncio.Semaphore(settings.llm_concurrency)
        self._embedding_model = settings.llm_embedding_model if settings.embeddings else ""
        self._keeper: VectorKeeper | None = None
        self._vectors = VectorCache()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: list[Callable[[], None]] = []

    @property
    def answers(self) -> bool:
        """Whether a model writes answers (otherwise passages are shown)."""
        return self._client is not None

    async def start(self) -> None:
        """With embeddings on: keep every indexed note embedded, from now on."""
        if self._client is None or not self._embedding_model:
            return
        self._keeper = VectorKeeper(
            self._library, self._embedding_model, self._embed, self._vectors.invalidate
        )
        events = self._manager.events
        self._unsubscribe = [
            events.subscribe(self._on_changed, StateChanged),
            events.subscribe(self._on_changed, NotesChanged),
            events.subscribe(self._on_changed, SessionDeleted),
            events.subscribe(self._on_changed, SessionCancelled),
        ]
        self._keeper.start()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._keeper is not None:
            await self._keeper.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._vectors.invalidate()
        if self._own_client is not None:
            await self._own_client.close()

    async def ask(self, chat_id: int, question: str, session_id: str | None = None) -> AskResult:
        """The answer to ``question`` from chat ``chat_id``'s notes (only ``session_id``'s
        when given). LibraryError (or LibraryRebuildingError) when the index cannot be read."""
        started = time.perf_counter()
        stems = content_words(question)
        candidates = await self.retrieve(chat_id, stems, question, session_id)
        passages = await self._passages(chat_id, candidates)
        if not passages:
            _log.info("ask_nothing_found", chat_id=chat_id, words=len(stems))
            return AskResult(Outcome.NOTHING)
        if self._client is None:
            return AskResult(Outcome.PASSAGES, _shown(passages, stems))
        result = await self._answer(question, stems, passages)
        _log.info(
            "ask_answered",
            chat_id=chat_id,
            outcome=result.outcome.value,
            references=len(result.passages),
            seconds=round(time.perf_counter() - started, 3),
        )
        return result

    # -- retrieval -------------------------------------------------------------------------

    async def retrieve(
        self, chat_id: int, stems: list[str], question: str, session_id: str | None = None
    ) -> list[Candidate]:
        """The chat's notes for the question, best first (at most :data:`MAX_PASSAGES`);
        none when no note shares enough of its words (:func:`relevant`)."""
        found = await self._library.in_index(
            bm25_candidates, stems, chat_id, CANDIDATES, session_id
        )
        ranked = [c for c in found if relevant(stems, c.text)]
        if not ranked:
            return []
        nearest_ids = await self._nearest(chat_id, question, session_id)
        if not nearest_ids:
            return ranked[:MAX_PASSAGES]
        by_id = {c.note_id: c for c in ranked}
        order = fuse([[c.note_id for c in ranked], nearest_ids])[:MAX_PASSAGES]
        extra = [i for i in order if i not in by_id]
        for candidate in await self._library.in_index(notes_by_id, chat_id, extra):
            by_id[candidate.note_id] = candidate
        return [by_id[i] for i in order if i in by_id]

    async def _nearest(self, chat_id: int, question: str, session_id: str | None) -> list[int]:
        if self._client is None or not self._embedding_model:
            return []
        try:
            (vector,) = await self._embed([question])
            return await self._vectors.nearest(
                self._library,
                chat_id,
                self._embedding_model,
                to_blob(vector),
                CANDIDATES,
                session_id,
            )
        except (ModelError, LibraryError, ValueError) as exc:  # BM25 alone still answers
            _log.warning("ask_embedding_failed", error=type(exc).__name__)
            return []

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        assert self._client is not None
        async with self._slots:
            return await self._client.embed(self._embedding_model, texts)

    async def _passages(self, chat_id: int, candidates: list[Candidate]) -> list[Passage]:
        """The candidates as passages, with their sessions' dates and speakers; any of a
        session that is gone or (never, but checked) another chat's is left out."""
        sessions: dict[str, Session | None] = {}
        passages: list[Passage] = []
        for candidate in candidates:
            if candidate.session_id not in sessions:
                session = None
                with contextlib.suppress(Exception):
                    session = await self._manager.get_session(candidate.session_id)
                ok = session is not None and session.chat_id == chat_id
                sessions[candidate.session_id] = session if ok else None
            found = sessions[candidate.session_id]
            if found is None:
                continue
            passages.append(
                Passage(
                    number=len(passages) + 1,
                    session_id=candidate.session_id,
                    sequence=candidate.sequence,
                    created_at=found.created_at,
                    speakers=_speakers(found, candidate.sequence),
                    text=candidate.text,
                )
            )
        return passages

    # -- the answer ------------------------------------------------------------------------

    async def _answer(self, question: str, stems: list[str], found: list[Passage]) -> AskResult:
        assert self._client is not None
        system = await asyncio.to_thread(self._prompts.template, "ask")
        question = question.strip()[:1000]
        budget = (
            self._settings.llm_context_tokens
            - estimate_tokens(system)
            - estimate_tokens(question)
            - ANSWER_TOKENS
            - MARGIN_TOKENS
        )
        sent = bound(found, stems, budget, self._zone)
        if not sent:
            return AskResult(Outcome.PASSAGES, _shown(found, stems))
        try:
            async with self._slots:
                completion = await self._client.complete(
                    system, user_message(question, sent, self._zone), max_tokens=ANSWER_TOKENS
                )
        except ModelError as exc:
            return AskResult(Outcome.PASSAGES, _shown(found, stems), reason=exc.reason)
        answer, cited = check_references(shorten(completion.text), len(sent))
        if not cited or not answer:
            return AskResult(Outcome.PASSAGES, _shown(found, stems), reason=NO_VALID_REFERENCES)
        by_number = {p.number: p for p in sent}
        passages = [
            Passage(
                number=new,
                session_id=by_number[old].session_id,
                sequence=by_number[old].sequence,
                created_at=by_number[old].created_at,
                speakers=by_number[old].speakers,
                text=by_number[old].text,
            )
            for new, old in enumerate(cited, start=1)
        ]
        return AskResult(Outcome.ANSWER, passages, answer=answer)

    # -- events ----------------------------------------------------------------------------

    async def _on_changed(
        self, event: StateChanged | NotesChanged | SessionDeleted | SessionCancelled
    ) -> None:
        """The index changes (or will, once the library has followed the event): the vectors
        in memory go now and again once it has; new notes are embedded soon."""
        self._vectors.invalidate()
        if self._keeper is not None and not isinstance(event, SessionDeleted | SessionCancelled):
            self._keeper.poke()
        task = asyncio.create_task(self._invalidate_when_indexed())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invalidate_when_indexed(self) -> None:
        await self._library.wait_idle()
        self._vectors.invalidate()


def _shown(passages: list[Passage], stems: list[str]) -> list[Passage]:
    """The best passages to show as they are: each cut to its part about the question."""
    return [
        replace(p, text=excerpt(clean(p.text), stems, SHOWN_TOKENS))
        for p in passages[:SHOWN_PASSAGES]
    ]


def _speakers(session: Session, sequence: int) -> tuple[str, ...]:
    """Who spoke in note ``sequence`` (every speaker of the session for its written notes)."""
    names = [
        entry.speaker.name
        for entry in session.audio_entries
        if entry.speaker is not None and (sequence == 0 or entry.sequence == sequence)
    ]
    return tuple(dict.fromkeys(names))


__all__ = ["AskResult", "AskService", "Outcome"]
