"""The one way to queue an arq job (uploads, imports, events, webhooks), in one Redis round trip.

arq's ``enqueue_job`` takes three (WATCH, EXISTS, then MULTI/EXEC). This script makes the same
check and the same two writes atomically in one, with arq's own key layout and job serializer,
so the worker side is plain arq. Every upload queues a job, so the two round trips saved are
measurable per upload (bench/results.md). Job names live in ``service.domain.jobs``."""

from typing import Any

import redis.asyncio as redis
from arq.constants import default_queue_name, expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from service.storage.redis import translate_errors

# A job id already queued or with a result kept is not queued again (arq's rule).
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


class JobQueue:
    def __init__(self, client: redis.Redis) -> None:
        self._enqueue = client.register_script(_ENQUEUE)

    async def enqueue(self, function: str, *args: Any, job_id: str) -> bool:
        """Queue ``function(*args)`` to run now under ``job_id``; False if that id is taken."""
        now = timestamp_ms()
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, default_queue_name]
        async with translate_errors(f"queue {function}"):
            return bool(await self._enqueue(
                keys=keys, args=[serialize_job(function, args, {}, None, now), expires_extra_ms, now, job_id]))
