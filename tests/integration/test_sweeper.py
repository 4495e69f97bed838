"""The sweeper's cron jobs, each against an injected fault: a stale multipart upload, a lost
ingestion job, a staged model ZIP a crashed upload left behind."""

import asyncio
import io
import time
import zipfile
from typing import Any

from service.settings import Settings
from service.workers import sweeper
from service.workers.settings import shutdown, startup
from tests.conftest import open_uploads, stored_keys
from tests.support import run_worker_burst


def run_cron(settings: Settings, job, **overrides: Any) -> Any:
    """Run one cron function in-process with a worker's clients, as arq would."""

    async def run() -> Any:
        ctx: dict[str, Any] = {"settings": settings.model_copy(update=overrides)}
        await startup(ctx)
        try:
            return await job(ctx)
        finally:
            await shutdown(ctx)

    return asyncio.run(run())


def upload(client, name: str, data: bytes = b"some text") -> str:
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data={"purpose": "ingestion"})
    assert response.status_code == 201, response.text
    return response.json()["file"]["path"]


def test_stale_multipart_uploads_are_aborted_in_every_bucket(client, s3, settings):
    """A multipart upload a killed process left open (created here with boto3) is aborted once
    older than DEPOT_STALE_UPLOAD_AGE; younger ones are left to finish."""
    buckets = [settings.bucket(name) for name in ("training", "ingestion", "models")]
    for bucket in buckets:
        started = s3.create_multipart_upload(Bucket=bucket, Key="text/crashed.txt")
        s3.upload_part(
            Bucket=bucket, Key="text/crashed.txt", UploadId=started["UploadId"], PartNumber=1, Body=b"x" * 1024
        )
    assert run_cron(settings, sweeper.clean_stale_uploads) == {
        "aborted_uploads": 0,
        "removed_staged": 0,
        "purged_keys": 0,
    }
    assert all(open_uploads(s3, bucket) == ["text/crashed.txt"] for bucket in buckets)

    time.sleep(1.1)  # S3 records the start to the second: make the uploads older than an age of 0
    assert run_cron(settings, sweeper.clean_stale_uploads, stale_upload_age=0)["aborted_uploads"] == 3
    assert all(open_uploads(s3, bucket) == [] for bucket in buckets)
    assert client.get("/api/v1/data/stats").json()["stats"]["total_files"] == 0  # nothing else touched


def test_lost_ingestion_job_is_queued_again(client, api, redis_client, settings):
    """A stored file whose job vanished from Redis stays pending until the sweeper queues it
    again (after DEPOT_PENDING_REQUEUE_AFTER); a file whose job is still queued is not doubled."""
    lost, queued = upload(client, "lost.txt"), upload(client, "queued.txt")
    redis_client.delete(f"arq:job:process:{lost}")  # the fault: the job is gone, the file pending
    redis_client.zrem("arq:queue", f"process:{lost}")

    assert run_cron(settings, sweeper.requeue_lost) == 0  # still within the grace period
    assert run_cron(settings, sweeper.requeue_lost, pending_requeue_after=0) == 1
    assert redis_client.zscore("arq:queue", f"process:{lost}") is not None
    assert run_cron(settings, sweeper.requeue_lost, pending_requeue_after=0) == 0  # queued once

    result = run_worker_burst(api.env)
    assert result.returncode == 0, result.stderr[-3000:]
    for path in (lost, queued):
        meta = client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
        assert meta["status"] == "done", meta
    assert run_cron(settings, sweeper.requeue_lost, pending_requeue_after=0) == 0  # nothing pending


def model_zip() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("tiny/config.json", b'{"model_type": "bert"}')
        archive.writestr("tiny/pytorch_model.bin", b"\x01" * 64)
        archive.writestr("tiny/tokenizer.json", b"{}")
    return raw.getvalue()


def test_staged_zip_of_a_crashed_upload_is_removed(client, s3, settings):
    """A ZIP staged under ``_uploads/`` whose task never came to be (the API died mid-request) is
    removed after DEPOT_STALE_UPLOAD_AGE; the staged ZIP of a task still waiting is kept."""
    bucket = settings.bucket("models")
    orphan = "_uploads/" + "0" * 32 + ".zip"
    s3.put_object(Bucket=bucket, Key=orphan, Body=model_zip())
    waiting = client.post("/v1/upload/local", files={"file": ("m.zip", model_zip(), "application/zip")})
    assert waiting.status_code == 201, waiting.text  # no worker runs: its task stays PENDING
    task_id = waiting.headers["location"].rsplit("/", 1)[-1]
    staged = f"_uploads/{task_id}.zip"

    assert run_cron(settings, sweeper.clean_stale_uploads)["removed_staged"] == 0
    assert {orphan, staged} <= set(stored_keys(s3, bucket))
    time.sleep(1.1)  # S3 records the write to the second: make both older than an age of 0
    assert run_cron(settings, sweeper.clean_stale_uploads, stale_upload_age=0)["removed_staged"] == 1
    keys = set(stored_keys(s3, bucket))
    assert orphan not in keys and staged in keys


def test_manifest_a_killed_writer_left_after_a_delete_is_removed(client, s3, settings):
    """The gap of write-then-recheck: a worker killed between writing a manifest and re-checking
    the tombstone. Injected by writing the manifest back behind the service; the sweep removes it."""
    path = upload(client, "killed.txt")
    manifest = f"{path.split('/', 1)[1]}.meta.json"
    bucket = settings.bucket("ingestion")
    body = s3.get_object(Bucket=bucket, Key=manifest)["Body"].read()
    assert client.delete(f"/api/v1/data/files/{path}").status_code == 200
    s3.put_object(Bucket=bucket, Key=manifest, Body=body)  # the killed writer's late write
    assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 200

    assert run_cron(settings, sweeper.clean_stale_uploads)["purged_keys"] == 2
    assert stored_keys(s3, bucket) == []
    assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404


def test_a_lost_index_is_rebuilt_by_itself(client, api, redis_client, settings):
    """Redis loses its data (flushed) while S3 keeps the files: the sweeper queues one rebuild and
    lists, stats and statuses come back with no `depot reindex`; an empty store is only marked."""
    redis_client.delete(f"{settings.redis_prefix}built")
    assert run_cron(settings, sweeper.restore_index) is False  # nothing stored: marked, not rebuilt
    assert redis_client.exists(f"{settings.redis_prefix}built")

    paths = {upload(client, f"kept-{n}.txt") for n in range(3)}
    assert run_worker_burst(api.env).returncode == 0
    assert run_cron(settings, sweeper.restore_index) is False  # the index is there: nothing to do

    redis_client.flushdb()  # the fault: Redis lost everything, S3 kept files and manifests
    assert client.get("/api/v1/data/stats").json()["stats"]["total_files"] == 0
    assert run_cron(settings, sweeper.restore_index) is True
    assert run_cron(settings, sweeper.restore_index) is False  # queued once, under one job id

    result = run_worker_burst(api.env)
    assert result.returncode == 0, result.stderr[-3000:]
    listing = client.get("/api/v1/data/files", params={"limit": 100}).json()
    assert {f["path"] for f in listing["files"]} == paths
    assert client.get("/api/v1/data/stats").json()["stats"]["total_files"] == 3
    for path in paths:
        meta = client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
        assert meta["status"] == "done", meta
    assert run_cron(settings, sweeper.restore_index) is False  # rebuilt and marked
