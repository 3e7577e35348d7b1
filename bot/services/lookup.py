"""Finding the chat's session a person names: by its id, by the local date and time they
recorded it (:mod:`bot.session_refs`), or by a part of its id.

Each chat sees only its own sessions: a session of another chat is answered exactly like
an id that does not exist.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot.services.forgetting import EVERY_SESSION
from bot.session_refs import When, date_words, matching, parse_when
from sessions import CorruptSessionError, Session, SessionManager
from sessions.ids import is_valid_session_id

# The old short forms: spaces and colons count as the id's "_" and "-" ("2026-11-24 19:47"
# read as a part of the UTC id 2026-11-24_19-47-xx).
_SHORT_FORM = str.maketrans({" ": "_", ":": "-"})
_ID_LIKE = re.compile(r"[\d_-]+")


@dataclass(frozen=True)
class Ambiguous:
    """Several of the chat's sessions answer to what was typed (newest first)."""

    typed: str
    sessions: list[Session]


@dataclass(frozen=True)
class NotFound:
    """None of the chat's sessions answers to what was typed; ``when`` is how it was read
    when it was a date or time."""

    typed: str
    when: When | None


async def chat_session(manager: SessionManager, chat_id: int, session_id: str) -> Session | None:
    """The session ``session_id`` if it exists and is ``chat_id``'s; None otherwise (an
    unknown id and another chat's session look the same)."""
    if not is_valid_session_id(session_id):
        return None
    try:
        session = await manager.get_session(session_id)
    except CorruptSessionError:  # unreadable: nothing can be done with it from the chat
        return None
    return session if session is not None and session.chat_id == chat_id else None


async def resolve(
    manager: SessionManager, chat_id: int, typed: str, zone: tzinfo, now: datetime
) -> Session | Ambiguous | NotFound:
    """The chat's session named by ``typed``: its exact id; else the local date and time it
    was recorded at (``09:47``, ``2 Dec 09:47``, ``yesterday 18:10``); else a part of its id
    only one session has (the old UTC short forms, ``08-47``).

    A text that reads both ways is read as local time, because every time the bot shows is
    local: ``2026-11-24 19:47`` and ``19:47`` were once read as parts of the UTC id
    ``2026-11-24_19-47-xx``, and now name the session recorded at 19:47 local time, or none
    (a session at 19:47 UTC answering a local 19:47 would be the wrong one). Only a text
    written like an id, digits and dashes (``08-47``, ``11-24``), is tried as a part of an id
    when no session was recorded at the local date or time it also reads as, so the old
    short forms keep working.
    """
    typed = typed.strip()
    exact = await chat_session(manager, chat_id, typed)
    if exact is not None:
        return exact
    when = parse_when(typed, now.astimezone(zone).date(), date_words())
    sessions = await manager.list_sessions(EVERY_SESSION, chat_id=chat_id) if typed else []
    # About 15 µs a session: a chat's thousands of sessions are matched off the event loop.
    found = [] if when is None else await asyncio.to_thread(matching, when, sessions, zone, now)
    if not found and (when is None or _ID_LIKE.fullmatch(typed)):
        key = typed.translate(_SHORT_FORM)
        found = [s for s in sessions if key and key in s.session_id]
    if len(found) == 1:
        return found[0]
    if not found:
        return NotFound(typed, when)
    return Ambiguous(typed, found)
