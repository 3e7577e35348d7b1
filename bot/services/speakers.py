"""Whose voice a Telegram message carries: its sender, or a forwarded note's original sender.

In a group the sender is the member who sent the note (or the group or channel itself, for
an anonymous admin or a linked channel's post). A forwarded note's voice is not the
forwarder's: Telegram's ``forward_origin`` names the original sender, a user, a user who
hides their account (a name only), a chat or a channel (with the post's author signature).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.types import (
    Chat,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    User,
)

from sessions import Speaker, SpeakerKind


@dataclass(frozen=True)
class NoteOrigin:
    """Who speaks in a note, and whether it was forwarded."""

    speaker: Speaker | None = None
    forwarded: bool = False


def note_origin(message: Message) -> NoteOrigin:
    """The speaker of ``message``: a forward's original sender, else its sender."""
    origin = message.forward_origin
    if origin is not None:
        return NoteOrigin(_forwarded_from(origin), forwarded=True)
    if message.sender_chat is not None:
        return NoteOrigin(_chat_speaker(message.sender_chat, message.author_signature), False)
    if message.from_user is not None:
        return NoteOrigin(_user_speaker(message.from_user), forwarded=False)
    return NoteOrigin(None, forwarded=False)


def _forwarded_from(origin: object) -> Speaker | None:
    if isinstance(origin, MessageOriginUser):
        return _user_speaker(origin.sender_user)
    if isinstance(origin, MessageOriginHiddenUser):
        return Speaker(name=origin.sender_user_name, kind=SpeakerKind.HIDDEN_USER)
    if isinstance(origin, MessageOriginChat):
        return _chat_speaker(origin.sender_chat, origin.author_signature)
    if isinstance(origin, MessageOriginChannel):
        return _chat_speaker(origin.chat, origin.author_signature)
    return None  # an origin type newer than this code: forwarded, from nobody we can name


def _user_speaker(user: User) -> Speaker:
    name = user.full_name.strip() or (f"@{user.username}" if user.username else "")
    return Speaker(name=name, kind=SpeakerKind.USER, user_id=user.id)


def _chat_speaker(chat: Chat, signature: str | None) -> Speaker:
    kind = SpeakerKind.CHANNEL if chat.type == "channel" else SpeakerKind.CHAT
    name = (chat.title or chat.full_name or "").strip()
    if not name and chat.username:
        name = f"@{chat.username}"
    return Speaker(name=name, kind=kind, chat_id=chat.id, signature=signature or None)
