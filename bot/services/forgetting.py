"""Deleting a chat's sessions, for /forget and /forget all."""

from __future__ import annotations

from sessions import SessionState

EVERY_SESSION = 1_000_000
"""``list_sessions``' limit when every session of a chat is wanted."""
BUSY = (SessionState.TRANSCRIBING, SessionState.PROCESSING)
"""A session in these states is being worked on: it is not deleted under the worker."""

__all__ = ["BUSY", "EVERY_SESSION"]
