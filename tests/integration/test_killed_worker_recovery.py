"""What a SIGKILLed worker leaves behind is picked up quickly and completely (found by test_replicas.py):
its short jobs are claimed for their own lease, not arq's hour, and a rerun finishes the index write and
the event of an outcome the dead try had already written to the manifest."""

import asyncio
import json
import warnings
from typing import Any

from arq.constants import in_progress_key_prefix

from service.domain.jobs import PROCESS_FILE, REINDEX
from service.settings import Settings
from service.storage.queue import JobQueue
from service.workers import ingestion
from service.workers.runner import ResilientWorker
from service.workers.settings import JOB_TIMEOUT, job_leases, shutdown, startup, worker_options


def test_a_file_job_is_claimed_for_its_own_lease_not_the_longest_jobs(settings, client):
    """arq claims every job for the longest timeout of any function (+10 s): an hour, for model imports.
    A file's job now holds its claim for process_timeout + 20 s; a long job keeps arq's."""
    short = settings.model_copy(update={"process_timeout": 2})
    seen: dict[str, int] = {}

    async def on_job_start(ctx: dict[str, Any]) -> None:
        seen[ctx["job_id"]] = await ctx["redis"].pttl(in_progress_key_prefix + ctx["job_id"])

    async def run() -> None:
        from service.storage.redis import open_redis

        async with open_redis(short.redis_url) as client:
            await JobQueue(client).enqueue(
                PROCESS_FILE,
                "ingestion/text/gone_20260101_000000_00000000.txt",
                None,
                job_id="process:ingestion/text/gone_20260101_000000_00000000.txt",
            )
            await JobQueue(client).enqueue(REINDEX, job_id="reindex-lease")
        options = {**worker_options(short), "on_job_start": on_job_start, "cron_jobs": []}
        worker = ResilientWorker(**options, burst=True, redis_url=short.redis_url)
        try:
            await worker.main()
        finally:
            with warnings.catch_warnings():  # arq's close() calls redis-py's deprecated close()
                warnings.simplefilter("ignore", DeprecationWarning)
                await worker.close()

    asyncio.run(run())
    lease = job_leases(short)["process:"] * 1000
    assert lease == (2 + 10 + 10) * 1000
    assert 0 < seen["process:ingestion/text/gone_20260101_000000_00000000.txt"] <= lease
    assert seen["reindex-lease"] > JOB_TIMEOUT * 1000  # model imports and reindex keep the long claim


def test_a_rerun_finishes_what_a_killed_try_left_after_its_manifest_write(client, s3, settings: Settings):
    """A try killed between its manifest write (done) and its index write left the listing at pending
    forever: the rerun saw 'done' in the manifest and returned. Now the next try completes the index
    and announces file.processed; a first try (a job queued anew) leaves a final file alone."""
    answer = client.post("/api/v1/data/upload", files={"file": ("notes.txt", b"one two\n")})
    assert answer.status_code == 201
    path = answer.json()["file"]["path"]
    bucket, key = settings.bucket("ingestion"), path.removeprefix("ingestion/") + ".meta.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    manifest.update(status="done", summary={"format": "text"}, processed_at="2026-01-01T00:00:00Z")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())  # what the killed try wrote

    def run(job_try: int) -> str:
        async def go() -> str:
            ctx: dict[str, Any] = {"settings": settings, "job_try": job_try}
            await startup(ctx)
            try:
                return await ingestion.process_file(ctx, path)
            finally:
                await shutdown(ctx)

        return asyncio.run(go())

    def listed_status() -> str:
        return next(f["status"] for f in client.get("/api/v1/data/files").json()["files"] if f["path"] == path)

    def processed_events() -> int:
        page = client.get("/api/v1/events", params={"type": "file.processed", "limit": 1000}).json()
        return sum(1 for e in page["events"] if e["subject"] == path)

    assert run(job_try=1) == "done" and listed_status() == "pending"  # a fresh job: nothing to finish
    assert run(job_try=2) == "done"
    assert listed_status() == "done" and processed_events() == 1
    meta = client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
    assert meta["processed_at"] == "2026-01-01T00:00:00Z"  # the outcome's own time is kept
