"""Embeddings of the indexed notes (optional, for ``/ask``): a table in the search index's own
file, one float32 vector per note, kept in step with the index by the index itself.

The table lives beside the notes it describes, keyed by the note's row id, and a trigger
deletes a note's vector in the same statement (and transaction) that deletes the note: so
``/forget``, ``/cancel``, retention, a re-index and a chat's move take the vectors with them,
with the index's secure deletion and scrub, and nothing here can outlive its note. A rebuilt
index file starts without the table; :class:`VectorKeeper` embeds whatever note lacks a
vector (from the index's text, itself rebuilt from the session folders): the vectors are
never the only copy of anything. Vectors of another model than the one set are not used
and are replaced.

Blocking functions take the index's connection and run on its worker thread
(:meth:`~library.index.SessionLibrary.in_index`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import numpy as np
import structlog

from library.files import LibraryError, transaction

if TYPE_CHECKING:
    from library.index import SessionLibrary

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
BATCH = 16
"""Notes embedded per request."""
MAX_EMBED_CHARS = 6000
"""A note's text beyond this is not embedded (its start stands for it)."""
RETRY_SECONDS = 30.0
CACHE_SECONDS = 300.0
_log = structlog.get_logger("library.vectors")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS note_vectors (note_id INTEGER PRIMARY KEY,"
    " model TEXT NOT NULL, vector BLOB NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS note_vectors_follow AFTER DELETE ON notes"
    " BEGIN DELETE FROM note_vectors WHERE note_id = old.id; END",
)
_MISSING = """
    SELECT n.id, t.text FROM notes AS n JOIN notes_text AS t ON t.rowid = n.id
    LEFT JOIN note_vectors AS v ON v.note_id = n.id AND v.model = ?
    WHERE v.note_id IS NULL ORDER BY n.id DESC LIMIT ?
"""
# Only if the note is still the one whose text was embedded: a row id freed by a deletion
# may be taken by another note meanwhile.
_STORE = """
    INSERT OR REPLACE INTO note_vectors (note_id, model, vector)
    SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM notes_text WHERE rowid = ? AND text = ?)
"""
_CHAT = """
    SELECT v.note_id, n.session_id, v.vector FROM note_vectors AS v
    JOIN notes AS n ON n.id = v.note_id WHERE n.chat_id = ? AND v.model = ?
"""


def ensure_schema(db: sqlite3.Connection) -> None:
    """Create the table and its trigger if the file lacks them (a new or rebuilt index)."""
    with transaction(db):
        for statement in _SCHEMA:
            db.execute(statement)


def has_table(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'note_vectors'").fetchone()
    return row is not None


def missing(db: sqlite3.Connection, model: str, limit: int) -> list[tuple[int, str]]:
    """(note id, text) of up to ``limit`` notes without a vector of ``model``, newest first."""
    ensure_schema(db)
    return [(int(r[0]), str(r[1])) for r in db.execute(_MISSING, (model, limit)).fetchall()]


def store(db: sqlite3.Connection, model: str, rows: list[tuple[int, str, bytes]]) -> int:
    """Store (note id, the text embedded, vector) rows whose note still has that text;
    returns how many were stored."""
    ensure_schema(db)
    stored = 0
    with transaction(db):
        for note_id, text, vector in rows:
            stored += db.execute(_STORE, (note_id, model, vector, note_id, text)).rowcount
    return stored


def count(db: sqlite3.Connection) -> int:
    """How many vectors the index holds (of any model)."""
    if not has_table(db):
        return 0
    return int(db.execute("SELECT count(*) FROM note_vectors").fetchone()[0])


def to_blob(vector: list[float]) -> bytes:
    """A vector as stored: float32, normalised to length 1 (cosine becomes a dot product)."""
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm if norm > 0 else array).astype(np.float32).tobytes()


def chat_vectors(
    db: sqlite3.Connection, chat_id: int, model: str
) -> tuple[list[int], list[str], bytes]:
    """The note ids, session ids and vectors (concatenated, float32) of the chat's notes
    with a vector of ``model``; vectors of another length (another model's) are left out."""
    if not has_table(db):
        return [], [], b""
    rows = db.execute(_CHAT, (chat_id, model)).fetchall()
    size = max((len(r[2]) for r in rows), default=0)
    rows = [r for r in rows if len(r[2]) == size]
    return [int(r[0]) for r in rows], [str(r[1]) for r in rows], b"".join(r[2] for r in rows)


def nearest(
    db: sqlite3.Connection,
    chat_id: int,
    model: str,
    query: bytes,
    limit: int,
    session_id: str | None = None,
) -> list[int]:
    """The ids of the chat's notes (only ``session_id``'s, when given) whose vectors are
    nearest ``query`` (a :func:`to_blob`), best first, at most ``limit``."""
    return ChatVectors(*chat_vectors(db, chat_id, model)).nearest(query, limit, session_id)


class ChatVectors:
    """One chat's vectors as a matrix, searched by dot product (they are normalised)."""

    def __init__(self, ids: list[int], sessions: list[str], blob: bytes) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.sessions = np.asarray(sessions, dtype=object)
        data = np.frombuffer(blob, dtype=np.float32)
        self.matrix = data.reshape(len(ids), -1) if ids else data.reshape(0, 0)
        self.loaded = time.monotonic()

    def nearest(self, query: bytes, limit: int, session_id: str | None = None) -> list[int]:
        wanted = np.frombuffer(query, dtype=np.float32)
        if not len(self.ids) or self.matrix.shape[1] != len(wanted):
            return []
        scores = self.matrix @ wanted
        if session_id is not None:
            scores = np.where(self.sessions == session_id, scores, -np.inf)
        best = np.argsort(-scores)[:limit]
        return [int(self.ids[i]) for i in best if np.isfinite(scores[i])]


class VectorCache:
    """The chats' vectors in memory, so a question does not read them all from the file.
    Dropped as a whole whenever the index may have changed (:meth:`invalidate`: a session
    indexed, deleted, cancelled; vectors stored) and after :data:`CACHE_SECONDS` at most, so
    nothing of a forgotten note stays in memory, and the chat filter of the passages (by
    the index) stays the final word on what a chat sees."""

    def __init__(self) -> None:
        self._generation = 0
        self._chats: dict[tuple[int, str], ChatVectors] = {}

    def invalidate(self) -> None:
        self._generation += 1
        self._chats.clear()

    async def nearest(
        self,
        library: SessionLibrary,
        chat_id: int,
        model: str,
        query: bytes,
        limit: int,
        session_id: str | None = None,
    ) -> list[int]:
        key = (chat_id, model)
        found = self._chats.get(key)
        if found is None or time.monotonic() - found.loaded > CACHE_SECONDS:
            generation = self._generation
            found = ChatVectors(*await library.in_index(chat_vectors, chat_id, model))
            if generation == self._generation:  # nothing changed while it was read
                self._chats[key] = found
        return found.nearest(query, limit, session_id)


class VectorKeeper:
    """Embeds the indexed notes that lack a vector, in the background: at start (so a
    missing or rebuilt table fills again), after the index changes (:meth:`poke`) and
    every few minutes. Failures are logged and tried again later; nothing waits for it."""

    def __init__(
        self,
        library: SessionLibrary,
        model: str,
        embed: Embed,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self._library = library
        self._on_stored = on_stored
        self._model = model
        self._embed = embed
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="vector-keeper")

    def poke(self) -> None:
        """The index may have new notes: embed them soon."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def catch_up(self) -> int:
        """Embed every note that lacks a vector now; returns how many were stored."""
        stored = 0
        while True:
            await self._library.wait_idle()  # the index's own updates first
            batch = await self._library.in_index(missing, self._model, BATCH)
            if not batch:
                return stored
            vectors = await self._embed([text[:MAX_EMBED_CHARS] for _, text in batch])
            if len(vectors) != len(batch):
                raise LibraryError("the embeddings endpoint answered for other texts")
            rows = [(i, t, to_blob(v)) for (i, t), v in zip(batch, vectors, strict=True)]
            done = await self._library.in_index(store, self._model, rows)
            stored += done
            if done:
                self._on_stored()
            if done == 0:  # every one changed meanwhile: read again, but not in a tight loop
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RETRY_SECONDS * 10)
            self._wake.clear()
            try:
                stored = await self.catch_up()
            except Exception as exc:  # the endpoint is down, the index rebuilt: later
                _log.warning("embeddings_behind", error=type(exc).__name__, retry_in=RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
                continue
            if stored:
                _log.info("embeddings_stored", notes=stored, model=self._model)


__all__ = [
    "ChatVectors",
    "VectorCache",
    "VectorKeeper",
    "chat_vectors",
    "count",
    "ensure_schema",
    "missing",
    "nearest",
    "store",
    "to_blob",
]
