"""The notes waiting for the model, taken a chat at a time in turn: one chat asking for many
notes never holds up another chat's."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    chat_id: int
    session_id: str
    key: str


class FairQueue:
    """An unbounded queue of jobs, served round-robin by chat."""

    def __init__(self) -> None:
        self._by_chat: dict[int, deque[Job]] = {}
        self._turns: deque[int] = deque()
        self._ready = asyncio.Condition()

    async def put(self, job: Job) -> None:
        async with self._ready:
            if job.chat_id not in self._by_chat:
                self._by_chat[job.chat_id] = deque()
                self._turns.append(job.chat_id)
            self._by_chat[job.chat_id].append(job)
            self._ready.notify()

    async def get(self) -> Job:
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._turns))
            chat_id = self._turns.popleft()
            jobs = self._by_chat[chat_id]
            job = jobs.popleft()
            if jobs:
                self._turns.append(chat_id)  # its next job waits for the other chats' turns
            else:
                del self._by_chat[chat_id]
            return job

    def __len__(self) -> int:
        return sum(len(jobs) for jobs in self._by_chat.values())


__all__ = ["FairQueue", "Job"]
