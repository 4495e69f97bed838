"""Contracts with library internals the fast paths rely on: an upgrade that changes them fails here,
loudly and by name, instead of as a slow or broken upload somewhere else.

- ``storage/objects/_store.py`` streams downloads from aiobotocore's body's wrapped aiohttp
  response (``body.__wrapped__.content.iter_chunks()``), skipping a copy of every byte.
- ``storage/queue.py`` writes arq jobs itself (one Lua script): arq's key layout, expiry and
  job serialisation must stay what ``ArqRedis.enqueue_job`` writes."""

import asyncio

import aiohttp
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.constants import default_queue_name, expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import deserialize_job

from service.domain.jobs import PROCESS_FILE
from service.storage.objects import ObjectStore
from service.storage.queue import JobQueue

DATA = bytes(range(256)) * 4096  # 1 MiB: several network chunks


def test_aiobotocore_body_wraps_an_aiohttp_response_whose_chunks_are_the_object(settings, s3, clean):
    bucket = settings.bucket("training")

    async def run() -> tuple[object, object, list[tuple[bytes, bool]], bytes]:
        async with ObjectStore.open(settings) as objects:
            await objects.ensure_buckets([bucket])
            s3.put_object(Bucket=bucket, Key="contract/body.bin", Body=DATA)
            response = await objects.client.get_object(Bucket=bucket, Key="contract/body.bin")
            wrapped = response["Body"].__wrapped__
            try:
                chunks = [item async for item in wrapped.content.iter_chunks()]
            finally:
                response["Body"].close()
            stream = await objects.open_read(bucket, "contract/body.bin")
            streamed = b"".join([chunk async for chunk in stream.chunks])
            return wrapped, wrapped.content, chunks, streamed

    wrapped, content, chunks, streamed = asyncio.run(run())
    assert isinstance(wrapped, aiohttp.ClientResponse)
    assert isinstance(content, aiohttp.StreamReader)
    assert all(isinstance(chunk, bytes) and isinstance(end, bool) for chunk, end in chunks)
    assert b"".join(chunk for chunk, _ in chunks) == DATA
    assert streamed == DATA


def test_arq_key_layout_is_the_one_the_queue_script_writes():
    assert (job_key_prefix, result_key_prefix, default_queue_name) == ("arq:job:", "arq:result:", "arq:queue")
    assert expires_extra_ms == 86_400_000


def test_queue_script_writes_what_arq_enqueue_job_writes(redis_server, clean):
    args = ("training/data/a.json", "1-0")

    async def run():
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        raw = aioredis.Redis.from_url(redis_server.url)
        arq = ArqRedis.from_url(redis_server.url)
        try:
            assert await arq.enqueue_job(PROCESS_FILE, *args, _job_id="by-arq") is not None
            assert await JobQueue(client).enqueue(PROCESS_FILE, *args, job_id="by-us") is True
            keys = sorted(k.decode() for k in await raw.keys("arq:*"))
            blobs = {who: await raw.get(job_key_prefix + who) for who in ("by-arq", "by-us")}
            ttls = {who: await raw.pttl(job_key_prefix + who) for who in ("by-arq", "by-us")}
            queued = {m.decode() for m in await raw.zrange(default_queue_name, 0, -1)}
            # A kept result blocks a job id for both (arq's rule, kept by the script).
            await raw.set(result_key_prefix + "done", b"x")
            refused = (
                await arq.enqueue_job(PROCESS_FILE, *args, _job_id="done"),
                await JobQueue(client).enqueue(PROCESS_FILE, *args, job_id="done"),
            )
            return keys, blobs, ttls, queued, refused
        finally:
            await client.aclose()
            await raw.aclose()
            await arq.aclose()

    keys, blobs, ttls, queued, refused = asyncio.run(run())
    assert keys == sorted([default_queue_name, job_key_prefix + "by-arq", job_key_prefix + "by-us"])
    assert queued == {"by-arq", "by-us"}
    ours, theirs = deserialize_job(blobs["by-us"]), deserialize_job(blobs["by-arq"])
    assert (ours.function, ours.args, ours.kwargs, ours.job_try) == (PROCESS_FILE, args, {}, None)
    assert (theirs.function, theirs.args, theirs.kwargs, theirs.job_try) == (PROCESS_FILE, args, {}, None)
    assert all(0 < ttl <= expires_extra_ms for ttl in ttls.values())
    assert refused == (None, False)
