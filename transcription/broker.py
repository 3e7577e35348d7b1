"""The Redis stream broker both sides of the transcription queue use: jobs on a stream,
results in Redis, everything as JSON (never pickle), with claim renewal, steady reclaiming
of jobs a dead worker held, and reconnects when Redis goes away."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisStreamBroker

from transcription.jobs import CONSUMER_GROUP, QUEUE_NAME
from transcription.results import GuardedResultBackend
from transcription.settings import TranscriptionSettings

_log = structlog.get_logger("transcription.queue")
_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)


class ReliableStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker with claim renewal, steady reclaiming and reconnects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Jobs this worker is running: a late renewal must never make it reclaim its own.
        self._running: set[str] = set()

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        while True:
            try:
                async for message in self._one_round():
                    yield message
            except _REDIS_DOWN as exc:
                _log.warning("redis_unavailable", error=repr(exc))
                await asyncio.sleep(1.0)
                with contextlib.suppress(*_REDIS_DOWN):
                    await self._declare_consumer_group()  # the stream may be new after a wipe

    async def _one_round(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
            except ResponseError as exc:  # NOGROUP: Redis came back without our stream
                _log.warning("consumer_group_missing", error=str(exc))
                await self._declare_consumer_group()
                return
            for _stream, messages in fetched or []:
                for message_id, fields in messages:
                    yield self._ackable(message_id, fields[b"data"])
            # Every round, not only after new messages: a dead worker's job must not wait
            # for the next job to arrive before it is taken over.
            claimed: Any = await redis.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
            for message_id, fields in claimed[1]:
                if _text(message_id) in self._running:
                    continue  # ours and still running: its renewal was late (a busy machine)
                if fields:  # a deleted entry comes back as None
                    _log.info("job_reclaimed", message_id=_text(message_id))
                    yield self._ackable(message_id, fields[b"data"])

    def _ackable(self, message_id: bytes | str, data: bytes) -> AckableMessage:
        self._running.add(_text(message_id))
        renewal = asyncio.create_task(self._renew_claim(message_id))

        async def ack() -> None:
            renewal.cancel()
            self._running.discard(_text(message_id))
            # Done with: acknowledge it and drop it, audio and all, from the stream.
            async with (
                Redis(connection_pool=self.connection_pool) as redis,
                redis.pipeline(transaction=True) as pipe,
            ):
                pipe.xack(self.queue_name, self.consumer_group_name, message_id)
                pipe.xdel(self.queue_name, message_id)
                await pipe.execute()

        return AckableMessage(data=data, ack=ack)

    async def _renew_claim(self, message_id: bytes | str) -> None:
        interval = max(self.idle_timeout / 1000 / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(*_REDIS_DOWN, ResponseError):
                async with Redis(connection_pool=self.connection_pool) as redis:
                    await redis.xclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=0,
                        message_ids=[message_id],
                        justid=True,
                    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def build_broker(settings: TranscriptionSettings) -> ReliableStreamBroker:
    """The broker both sides use: jobs on a Redis stream, results in Redis, all as JSON."""
    backend = GuardedResultBackend(settings.redis_url, settings.transcription_result_ttl_seconds)
    broker = ReliableStreamBroker(
        settings.redis_url,
        queue_name=QUEUE_NAME,
        consumer_group_name=CONSUMER_GROUP,
        consumer_id="0",  # a group made after jobs were queued still sees them
        idle_timeout=settings.transcription_queue_idle_seconds * 1000,
        xread_block=1000,
        xread_count=1,  # one job at a time per fetch: idle workers get the rest
    )
    return broker.with_result_backend(backend).with_serializer(JSONSerializer())


__all__ = ["ReliableStreamBroker", "build_broker"]
