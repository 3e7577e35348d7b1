"""/ask's retrieval on a real index: questions reduced to content words, FTS5 syntax read as
words, chats kept apart, and the notes' vectors removed with their notes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from library import SessionLibrary, library_path
from library.passages import (
    ask_expression,
    bm25_candidates,
    content_words,
    fuse,
    relevant,
    stem,
)
from library.vectors import VectorCache, count, missing, nearest, store, to_blob
from sessions import FileSessionManager
from tests.sessions.helpers import transcribed


@pytest.fixture
async def library(manager: FileSessionManager, sessions_dir: Path) -> AsyncIterator[SessionLibrary]:
    opened = SessionLibrary(library_path(sessions_dir), manager)
    await opened.open()
    opened.attach()
    yield opened
    await opened.close()


def test_a_question_is_reduced_to_its_content_words() -> None:
    assert content_words("What did I decide about the flat?") == ["decid", "flat"]
    assert content_words("When is Anna's deadline?") == ["anna", "deadlin"]
    assert content_words("what is it?") == []
    assert content_words("2027 budget, budgets") == ["2027", "budget"]
    assert stem("meeting") == "meet"
    assert stem("does") == "does"  # too little would be left


def test_query_syntax_is_read_as_words() -> None:
    stems = content_words('flat" OR NEAR(x y) * -budget ^col:thing')
    expression = ask_expression(stems)
    assert expression == '"flat" * OR "near" * OR "budget" * OR "col" *'
    assert ask_expression([]) is None


def test_a_note_is_relevant_with_a_third_of_the_question_words() -> None:
    stems = content_words("Anna deadline budget report")  # 4 words: 2 needed
    assert relevant(stems, "Anna's deadline is Friday")
    assert not relevant(stems, "Anna called")
    assert relevant(["flat"], "the flats in Berlin")
    assert not relevant([], "anything")


def test_reciprocal_rank_fusion_favours_what_both_rank_high() -> None:
    assert fuse([[1, 2, 3], [3, 1, 4]]) == [1, 3, 2, 4]
    assert fuse([[5], []]) == [5]
    assert fuse([]) == []


async def test_bm25_keeps_to_the_chat_and_the_session(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    ours = await transcribed(manager, 1, ["Anna's deadline is Friday", "the flat is sold"])
    other = await transcribed(manager, 1, ["the deadline moved"])
    theirs = await transcribed(manager, 2, ["Anna's deadline is Monday"])
    await library.wait_idle()
    stems = content_words("When is Anna's deadline?")

    found = await library.in_index(bm25_candidates, stems, 1, 10)
    assert [(c.session_id, c.sequence) for c in found] == [
        (ours.session_id, 1),
        (other.session_id, 1),
    ]
    assert theirs.session_id not in {c.session_id for c in found}
    scoped = await library.in_index(bm25_candidates, stems, 1, 10, other.session_id)
    assert [c.session_id for c in scoped] == [other.session_id]
    injected = await library.in_index(bm25_candidates, content_words('" OR * NEAR('), 1, 10)
    assert injected == []


async def test_vectors_leave_with_their_notes(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    gone = await transcribed(manager, 1, ["the zanzibar plan", "second note"])
    kept = await transcribed(manager, 1, ["keep this note"])
    await library.wait_idle()
    todo = await library.in_index(missing, "m", 10)
    assert len(todo) == 3
    rows = [(i, text, to_blob([1.0, float(i), 0.5])) for i, text in todo]
    assert await library.in_index(store, "m", rows) == 3
    assert await library.in_index(missing, "m", 10) == []
    assert len(await library.in_index(missing, "another-model", 10)) == 3

    await manager.delete_session(gone.session_id)
    await library.wait_idle()

    assert await library.in_index(count) == 1
    query = to_blob([1.0, 0.0, 0.0])
    left = await library.in_index(nearest, 1, "m", query, 10)
    assert len(left) == 1
    with sqlite3.connect(library.path) as db:
        (sid,) = db.execute("SELECT session_id FROM notes WHERE id = ?", (left[0],)).fetchone()
    assert sid == kept.session_id
    assert await library.in_index(nearest, 2, "m", query, 10) == []  # another chat's: none


async def test_a_vector_for_a_note_that_changed_meanwhile_is_not_stored(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    await transcribed(manager, 1, ["first words"])
    await library.wait_idle()
    [(note_id, _)] = await library.in_index(missing, "m", 10)
    stale = [(note_id, "other words than the note has", to_blob([1.0]))]
    assert await library.in_index(store, "m", stale) == 0


async def test_the_vectors_in_memory_go_when_invalidated(
    manager: FileSessionManager, library: SessionLibrary
) -> None:
    gone = await transcribed(manager, 1, ["the zanzibar plan"])
    kept = await transcribed(manager, 1, ["keep this note"])
    await library.wait_idle()
    rows = [(i, t, to_blob([1.0, 0.5])) for i, t in await library.in_index(missing, "m", 10)]
    await library.in_index(store, "m", rows)
    cache = VectorCache()
    query = to_blob([1.0, 0.5])
    assert len(await cache.nearest(library, 1, "m", query, 10)) == 2
    assert len(await cache.nearest(library, 1, "m", query, 10, kept.session_id)) == 1

    await manager.delete_session(gone.session_id)
    await library.wait_idle()
    assert len(await cache.nearest(library, 1, "m", query, 10)) == 2  # held in memory ...
    cache.invalidate()
    assert len(await cache.nearest(library, 1, "m", query, 10)) == 1  # ... until invalidated
