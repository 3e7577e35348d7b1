"""The notes waiting for the model, served a chat at a time in turn: one chat asking for many
notes never holds up another chat's."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    chat_id: int
    session_id: str
    key: str


class FairQueue:
    """An unbounded queue of jobs; each ``get`` serves the waiting chat that was served
    longest ago (one never served first, in the order they asked). A chat whose note is
    being written therefore waits behind the other chats for its next one."""

    def __init__(self) -> None:
        self._by_chat: dict[int, deque[Job]] = {}
        self._last_served: dict[int, int] = {}
        self._clock = itertools.count()
        self._ready = asyncio.Condition()

    async def put(self, job: Job) -> None:
        async with self._ready:
            self._by_chat.setdefault(job.chat_id, deque()).append(job)
            self._ready.notify()

    async def get(self) -> Job:
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._by_chat))
            # dicts keep insertion order: among chats never served, the first to ask wins.
            chat_id = min(self._by_chat, key=lambda chat: self._last_served.get(chat, -1))
            jobs = self._by_chat[chat_id]
            job = jobs.popleft()
            if not jobs:
                del self._by_chat[chat_id]
            self._last_served[chat_id] = next(self._clock)
            return job

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._by_chat.values())


__all__ = ["FairQueue", "Job"]
