"""JobQueue writes jobs arq itself reads: same keys, same payload, same "queued once" rule."""

import asyncio

import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus

from service.storage.queue import JobQueue


def test_a_job_queued_in_one_round_trip_is_an_arq_job_and_is_queued_once(redis_server, clean):
    async def run() -> tuple[bool, bool, JobStatus, object]:
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        arq = ArqRedis.from_url(redis_server.url)
        try:
            queue = JobQueue(client)
            first = await queue.enqueue("process_file", "training/data/a.json", "1-0", job_id="process:a")
            again = await queue.enqueue("process_file", "training/data/a.json", "1-0", job_id="process:a")
            job = Job("process:a", arq)
            return first, again, await job.status(), await job.info()
        finally:
            await client.aclose()
            await arq.aclose()

    first, again, status, info = asyncio.run(run())
    assert (first, again) == (True, False)
    assert status is JobStatus.queued
    assert info.function == "process_file" and info.args == ("training/data/a.json", "1-0")
    assert info.job_try is None and info.enqueue_time is not None
