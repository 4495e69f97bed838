"""What a SIGKILLed worker leaves behind is picked up quickly and completely (found by test_replicas.py):
its jobs are claimed for a short renewed lease, not arq's hour, and a rerun finishes the index write and
the event of an outcome the dead try had already written to the manifest."""

import asyncio
import json
import warnings
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.worker import func

from service.settings import Settings
from service.storage.queue import JobQueue
from service.workers import ingestion
from service.workers.runner import ResilientWorker
from service.workers.settings import shutdown, startup, worker_options


def test_a_running_job_holds_a_short_renewed_claim_not_arqs_hour(settings, client):
    """arq claims every job for the longest timeout of any function (+10 s): an hour, for model imports,
    so a killed worker's files waited an hour. The claim is now DEPOT_WORKER_JOB_LEASE, renewed while
    the job runs: short at the start, still held by a job running three leases long."""
    short = settings.model_copy(update={"worker_job_lease": 1})
    seen: dict[str, int] = {}

    async def slow(ctx: dict[str, Any]) -> str:
        key = in_progress_key_prefix + ctx["job_id"]
        seen["start"] = await ctx["redis"].pttl(key)
        await asyncio.sleep(3 * short.worker_job_lease)
        seen["after three leases"] = await ctx["redis"].pttl(key)
        return "done"

    async def run() -> None:
        from service.storage.redis import open_redis

        async with open_redis(short.redis_url) as redis_client:
            await JobQueue(redis_client).enqueue("slow", job_id="slow-job")
        options = worker_options(short)
        options.update(functions=[*options["functions"], func(slow, name="slow")], cron_jobs=[])
        worker = ResilientWorker(**options, burst=True, redis_url=short.redis_url)
        assert worker.in_progress_timeout_s == 1  # a claimed job not yet started: the same short claim
        try:
            await worker.main()
        finally:
            with warnings.catch_warnings():  # arq's close() calls redis-py's deprecated close()
                warnings.simplefilter("ignore", DeprecationWarning)
                await worker.close()

    asyncio.run(run())
    assert 0 < seen["start"] <= 1000  # not arq's JOB_TIMEOUT + 10 s
    assert 0 < seen["after three leases"] <= 1000  # renewed: another worker cannot take a live job


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
