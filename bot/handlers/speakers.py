"""``/speakers``: speaker turns inside a chat's recordings, and the names of the voices.

``/speakers on|off`` is the chat's setting (kept with its other settings; honoured only
where the owner enabled ``DIARIZATION``, and for notes not transcribed yet);
``/speakers 1 Anna`` names a voice of the chat's latest session, kept in its
``metadata.json``; ``/speakers`` alone shows both.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo

import structlog
from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot import chat_settings_texts as ct
from bot import speaker_texts as st
from bot.handlers.chat_settings import settings_or_say
from bot.handlers.library import label_of
from processing import MarkdownProcessor
from processing.settings import MARKDOWN
from sessions import Session, SessionError, SessionManager, SessionState
from sessions.turns import session_speakers
from transcription.pipeline import consolidate

_log = structlog.get_logger("bot.speakers")

# A session in these states has its process/input.txt, written again with the new names
# (what written notes are made from). One PROCESSING is left alone: its processor reads it.
_CONSOLIDATED = frozenset({SessionState.TRANSCRIBED, SessionState.PROCESSED})
_STILL_OPEN = frozenset({SessionState.COLLECTING, SessionState.TRANSCRIBING})


async def speakers(
    message: Message,
    command: CommandObject,
    manager: SessionManager,
    zone: tzinfo = UTC,
    diarization: bool = False,
    processor_label: str | None = None,
) -> None:
    typed = (command.args or "").strip()
    word = typed.lower()
    if word in ("on", "off"):
        await _switch(message, manager, on=word == "on", enabled=diarization)
        return
    number, _, name = typed.partition(" ")
    if number.isdigit():
        await _name(message, manager, zone, int(number), name, processor_label)
        return
    if typed:
        await message.answer(st.SPEAKERS_USAGE)
        return
    settings = await settings_or_say(message, manager)
    if settings is None:
        return
    latest = await _latest(manager, message.chat.id)
    label = None if latest is None else await label_of(manager, latest, zone)
    numbers = [] if latest is None else session_speakers(latest)
    names = {} if latest is None else latest.speaker_names or {}
    text = st.speakers_status(settings.speakers, diarization, label, numbers, names)
    await message.answer(text)


async def _switch(message: Message, manager: SessionManager, *, on: bool, enabled: bool) -> None:
    if on and not enabled:
        await message.answer(st.SPEAKERS_NOT_ENABLED)  # nothing stored: it would only pretend
        return
    try:
        await manager.update_chat_settings(message.chat.id, lambda s: s.with_speakers(on))
    except SessionError:
        _log.exception("chat_settings_unwritable", chat_id=message.chat.id)
        await message.answer(ct.SETTINGS_UNAVAILABLE)
        return
    _log.info("chat_speakers_set", chat_id=message.chat.id, on=on)
    await message.answer(st.speakers_set(on))


async def _name(
    message: Message,
    manager: SessionManager,
    zone: tzinfo,
    number: int,
    name: str,
    processor: str | None,
) -> None:
    session = await _latest(manager, message.chat.id)
    if session is None:
        await message.answer(st.SPEAKERS_NO_SESSION)
        return
    known = session_speakers(session)
    # Before /done a session's voices are not numbered yet: any number may be named then.
    if not 1 <= number <= 99 or (
        known and session.state not in _STILL_OPEN and number > max(known)
    ):
        await message.answer(st.speaker_unknown(number, max(known, default=1)))
        return
    try:
        session = await manager.name_speaker(session.session_id, number, name or None)
    except SessionError:
        _log.exception("speaker_name_unwritable", session_id=session.session_id)
        await message.answer(ct.SETTINGS_UNAVAILABLE)
        return
    if session.state in _CONSOLIDATED:
        await _rewrite_input(manager, session, zone, processor)
    shown = (session.speaker_names or {}).get(str(number))
    label = await label_of(manager, session, zone)
    await message.answer(st.speaker_named(number, shown, label, session.state not in _STILL_OPEN))


async def _rewrite_input(
    manager: SessionManager, session: Session, zone: tzinfo, processor: str | None
) -> None:
    """``process/input.txt`` again, with the names: written notes are made from it; and the
    built-in processor's ``session.md`` and ``session.srt``, which ``/get`` sends again."""
    folder = manager.folder(session.session_id)
    try:
        await asyncio.to_thread(lambda: folder.write_process_input(consolidate(folder, session)))
        if processor == MARKDOWN and session.state is SessionState.PROCESSED:
            await MarkdownProcessor(zone).run(session, folder)
    except OSError as exc:  # the names are stored; the files keep the old ones
        _log.warning("process_files_not_rewritten", session_id=session.session_id, error=str(exc))


async def _latest(manager: SessionManager, chat_id: int) -> Session | None:
    found = await manager.list_sessions(1, chat_id=chat_id)
    return found[0] if found else None


def create_router() -> Router:
    """A new router with this module's handlers (a router can join only one parent)."""
    router = Router(name="speakers")
    router.message.register(speakers, Command("speakers"))
    return router
