"""Where a worker stores job results: taskiq-redis's result backend, as JSON, keeping no
result of a job the bot gave up on.

The bot gives up on a job when its run times out, or its note is cancelled or forgotten
(:meth:`~transcription.jobs.JobMarks.cancel`: a mark, and the result deleted). A worker
that ran such a job anyway (it had started before the mark) stores nothing; one whose
result went in just as the bot gave up finds the mark right after and deletes it. So no
transcript outlives the bot's interest in it (the README's "nothing of a transcribed note
stays in Redis"); a result nobody reads for another reason expires after the TTL.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from taskiq import TaskiqResult
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend

from transcription.jobs import RESULT_PREFIX, JobMarks

_log = structlog.get_logger("transcription.results")


class GuardedResultBackend(RedisAsyncResultBackend[Any]):
    """taskiq-redis's backend that drops the results of cancelled jobs."""

    def __init__(self, redis_url: str, ttl_seconds: int) -> None:
        super().__init__(
            redis_url,
            result_ex_time=ttl_seconds,
            # A result (a note's transcript) is deleted as the bot reads it: nothing of a
            # transcribed note stays in Redis (/forget); one never read expires after the TTL.
            keep_results=False,
            serializer=JSONSerializer(),  # taskiq-redis's default is pickle: code execution
            prefix_str=RESULT_PREFIX,
        )
        self._ttl = ttl_seconds

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        if await self._cancelled(task_id):
            _log.info("job_result_dropped", task_id=task_id, stored=False)
            return
        await super().set_result(task_id, result)
        # The bot may have given up while this was stored: its mark is written before it
        # deletes the result, so either it deleted this one or the mark is seen here.
        if await self._cancelled(task_id):
            async with Redis(connection_pool=self.redis_pool) as redis:
                await JobMarks(redis, self._ttl).delete_result(task_id)
            _log.info("job_result_dropped", task_id=task_id, stored=True)

    async def _cancelled(self, task_id: str) -> bool:
        async with Redis(connection_pool=self.redis_pool) as redis:
            return await JobMarks(redis, self._ttl).is_cancelled(task_id)


__all__ = ["GuardedResultBackend"]
