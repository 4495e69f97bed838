"""A delete is final (README "Reliability"): DELETEs racing a running worker or a running model
import leave nothing behind, late background writes cannot bring a file back, and of concurrent
DELETEs of one file exactly one wins."""

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from arq.connections import RedisSettings, create_pool
from arq.jobs import Job

from service.domain.categories import Category
from service.domain.naming import parse_file_path
from service.domain.records import Status
from service.domain.training import Threshold
from service.errors import NotFound
from service.storage.events import EventLog
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.objects import ObjectStore
from service.storage.training import TrainingCounter
from tests.conftest import open_uploads, stored_keys
from tests.fakes.hf_hub import demo_files
from tests.integration.model_fixtures import created, follow, model_keys

RACES = 300


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real, long-running ``depot worker`` (not burst): jobs run while the test deletes."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_until(check, what: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.fixture
def worker(redis_client, tmp_path: Path) -> Iterator:
    """Start a worker against ``env`` and wait until it polls; stopped (SIGTERM) afterwards."""
    procs: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> Path:
        log = tmp_path / f"worker{len(procs)}.log"
        procs.append(start_worker(env, log))
        wait_until(lambda: any(redis_client.scan_iter("arq:queue:health-check:*")), "worker never started", log)
        return log

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(60)


def drained(redis_client) -> bool:
    """No job queued or running (process, dispatch and webhook jobs alike)."""
    return redis_client.zcard("arq:queue") == 0 and not any(redis_client.scan_iter("arq:in-progress:*"))


def events_of(redis_client, kind: str) -> list[dict]:
    """The ``data`` of every CloudEvent of type ``io.depot.<kind>`` in the stream."""
    return [
        json.loads(f["data"])["data"] for _, f in redis_client.xrange("depot:events") if f["type"] == f"io.depot.{kind}"
    ]


def leftover_keys(redis_client) -> list[str]:
    """Redis keys of Depot other than tombstones and the event stream (index, hashes, counters)."""
    keys = [k for k in redis_client.scan_iter("depot:*") if not k.startswith("depot:gone:")]
    keys = [k for k in keys if k not in ("depot:events", "depot:built")]  # the stream; the index's marker
    counters = [k for k in keys if k.startswith("depot:ix") and k.endswith(":n")]  # the stats
    for key in counters:
        assert all(int(v) == 0 for v in redis_client.hgetall(key).values()), key
    return [k for k in keys if k not in counters]


def job_results(redis_url: str, job_ids: list[str]) -> Counter:
    async def run() -> Counter:
        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        try:
            infos = [await Job(job_id, pool).result_info() for job_id in job_ids]
        finally:
            await pool.aclose()
        return Counter(str(i.result) if i is not None else "never ran" for i in infos)

    return asyncio.run(run())


def test_upload_then_delete_races_a_running_worker(api, client, worker, s3, settings, redis_client):
    """300 uploads, each deleted at once or as soon as the real worker holds it (status
    ``processing``): every DELETE answers 200 and afterwards nothing of any file is left in S3
    or Redis. The worker's outcomes show where the DELETEs landed."""
    log = worker(api.env)
    body = json.dumps({"rows": [{"id": i, "text": "x" * 40} for i in range(4000)]}).encode()  # ~0.2 MB to parse
    paths: list[str] = []
    lock = threading.Lock()

    def race(n: int) -> int:
        purpose = "training" if n % 2 else "ingestion"
        uploaded = client.post(
            "/api/v1/data/upload",
            files={"file": (f"race{n}.json", body)},
            data={"purpose": purpose, "metadata": json.dumps({"n": n})},
        )
        assert uploaded.status_code == 201, uploaded.text
        path = uploaded.json()["file"]["path"]
        with lock:
            paths.append(path)
        if n % 3:  # two in three wait until the worker holds the file, then a little more
            deadline = time.monotonic() + 5
            while (
                time.monotonic() < deadline
                and client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]["status"]
                == "pending"
            ):
                time.sleep(0.005)
            time.sleep(random.uniform(0, 0.05) if n % 3 == 2 else 0)
        return client.delete(f"/api/v1/data/files/{path}").status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(race, range(RACES)))
    assert statuses == [200] * RACES
    wait_until(lambda: drained(redis_client), "queue never drained", log)

    for bucket in (settings.bucket("training"), settings.bucket("ingestion")):
        assert stored_keys(s3, bucket) == [], bucket
        assert open_uploads(s3, bucket) == [], bucket
    assert leftover_keys(redis_client) == []
    for path in paths:
        assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404
    assert client.get("/api/v1/data/files").json()["total"] == 0
    assert client.get("/api/v1/data/stats").json()["stats"]["total_files"] == 0
    deleted = events_of(redis_client, "file.deleted")
    assert sorted(e["path"] for e in deleted) == sorted(paths)  # one event per DELETE, no more
    outcomes = job_results(settings.redis_url, [f"process:{p}" for p in paths])
    print(f"\nworker outcomes of {RACES} raced files: {dict(outcomes)}")  # noqa: T201 - the measured mix


def test_concurrent_deletes_have_exactly_one_winner(client, redis_client):
    """10 DELETEs of one file at once: one 200, nine 404, one file.deleted event (five rounds)."""
    for round_ in range(5):
        uploaded = client.post(
            "/api/v1/data/upload", files={"file": (f"twin{round_}.txt", b"hello")}, data={"purpose": "training"}
        )
        path = uploaded.json()["file"]["path"]
        gate = threading.Barrier(10)

        def delete(_: int, path: str = path, gate: threading.Barrier = gate) -> httpx.Response:
            gate.wait()
            return client.delete(f"/api/v1/data/files/{path}")

        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(delete, range(10)))
        assert sorted(a.status_code for a in answers) == [200] + [404] * 9
        assert all(a.json()["success"] is False for a in answers if a.status_code == 404)
        assert [e["path"] for e in events_of(redis_client, "file.deleted")].count(path) == 1


def test_late_background_writes_never_bring_a_deleted_file_back(client, settings, s3, redis_client):
    """A worker that read a record before the DELETE and writes after it (a status, a duplicate
    mark, a training count) writes nothing: manifest, index entry and counters stay gone."""
    uploaded = client.post(
        "/api/v1/data/upload", files={"file": ("late.txt", b"late bytes")}, data={"purpose": "training"}
    )
    path = uploaded.json()["file"]["path"]

    async def run() -> None:
        async with (
            ObjectStore.open(settings) as objects,
            Index.open(settings.redis_url, settings.redis_prefix) as index,
        ):
            files = FileStore(objects, index, settings)
            record = await files.record(path)
            assert client.delete(f"/api/v1/data/files/{path}").status_code == 200
            await files._mark_duplicate(record, "training/text/other.txt")  # the upload's late duplicate mark
            record.status = Status.done
            with pytest.raises(NotFound):
                await files.save_status(record)
            assert not await index.set_status(record)
            events = EventLog(index.client, settings.redis_prefix, 100, settings.events_source())
            counter = TrainingCounter(index.client, settings.redis_prefix, events)
            assert await counter.count(Category.text, path, record.size, Threshold(files=1, bytes=0)) is None

    asyncio.run(run())
    assert stored_keys(s3, settings.bucket("training")) == []
    assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404
    assert leftover_keys(redis_client) == []
    assert events_of(redis_client, "training.ready") == []
    # Deleted means deleted: a second DELETE is 404 and removes what a killed writer put back ...
    manifest = f"{path.split('/', 1)[1]}.meta.json"
    s3.put_object(Bucket=settings.bucket("training"), Key=manifest, Body=b"{}")
    assert client.delete(f"/api/v1/data/files/{path}").status_code == 404
    assert stored_keys(s3, settings.bucket("training")) == []
    # ... and the tombstone does not block new uploads.
    assert (
        client.post(
            "/api/v1/data/upload", files={"file": ("late.txt", b"late bytes")}, data={"purpose": "training"}
        ).status_code
        == 201
    )


def test_a_delete_that_failed_midway_is_resumed_by_the_next(client, settings, s3, redis_client):
    """A DELETE whose claim was taken but whose S3 removal failed (the tombstone says ``retry``):
    the file is unlisted and no worker may touch it; the next DELETE takes over, answers 200 and
    announces it once."""
    path = client.post(
        "/api/v1/data/upload", files={"file": ("half.txt", b"half")}, data={"purpose": "ingestion"}
    ).json()["file"]["path"]

    async def fail_midway() -> str:
        async with Index.open(settings.redis_url, settings.redis_prefix) as index:
            purpose, category, _ = parse_file_path(path)
            claim = await index.claim_delete(purpose, category, path)
            await index.tombstones.retry(index.gone_key(path))
            return claim.value

    assert asyncio.run(fail_midway()) == "indexed"
    assert client.get("/api/v1/data/files").json()["total"] == 0  # unlisted at once
    assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 200
    assert client.delete(f"/api/v1/data/files/{path}").status_code == 200
    assert client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404
    assert stored_keys(s3, settings.bucket("ingestion")) == []
    assert [e["path"] for e in events_of(redis_client, "file.deleted")] == [path]
    assert client.delete(f"/api/v1/data/files/{path}").status_code == 404


def test_deleting_what_never_existed_leaves_no_tombstone(client, redis_client):
    assert client.delete("/api/v1/data/files/training/text/never_20260101_000000_abcd.txt").status_code == 404
    assert not any(redis_client.scan_iter("depot:gone:*"))


def test_model_delete_racing_a_running_import(hub, mclient, model_env, worker, s3, settings, redis_client):
    """DELETE polled while a real worker imports: the first DELETE that is not 409 lands right
    after the manifest is written. Once the import ends nothing of the model remains, it is
    not listed, and it can be imported again."""
    log = worker(model_env)
    bucket = settings.bucket("models")
    for n in range(8):
        hub.add_model(f"acme/race{n}", demo_files(64 * 1024))
        location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": f"acme/race{n}"}))
        mid = f"huggingface/acme/race{n}@main"
        deadline = time.monotonic() + 60
        while (answer := mclient.delete(f"/v1/models/{mid}")).status_code == 409:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
        assert answer.status_code == 204, answer.text
        assert follow(mclient, location)["task_status"] == "DONE"
        wait_until(lambda: drained(redis_client), "queue never drained", log)
        assert model_keys(s3, bucket, mid) == [], mid
        assert mclient.get(f"/v1/models/{mid}").status_code == 404
        assert mclient.get("/v1/models").json()["total"] == 0
        assert redis_client.get(f"depot:models:model:{mid}") is None
        assert redis_client.get(f"depot:models:claim:{mid}") is None
    assert open_uploads(s3, bucket) == []
    landed = log.read_text().count("was deleted while it was published")
    print(f"\nmodel DELETEs that landed mid-publish: {landed} of 8")  # noqa: T201 - the measured mix
    assert mclient.delete("/v1/models/huggingface/acme/race0@main").status_code == 404
    again = follow(mclient, created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/race0"})))
    assert again["task_status"] == "DONE"
    assert mclient.get("/v1/models/huggingface/acme/race0@main").status_code == 200
