"""Processing against real SeaweedFS, Redis and an arq worker: every parser, status and events."""

import asyncio
import subprocess
import sys
import tempfile

import pytest
from arq import create_pool
from arq.connections import RedisSettings

from tests.samples import GOOD, MALFORMED, zip_archive
from tests.support import run_worker_burst


def upload(client, name: str, data: bytes, **fields: str) -> dict:
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()["file"]


def metadata(client, path: str) -> dict:
    return client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]


def burst(env: dict[str, str], **overrides: str) -> None:
    result = run_worker_burst({**env, **{f"DEPOT_{k.upper()}": v for k, v in overrides.items()}})
    assert result.returncode == 0, result.stderr[-3000:]


async def enqueue(redis_url: str, function: str, *args: str) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        assert await pool.enqueue_job(function, *args) is not None
    finally:
        await pool.aclose()


def tags_of(s3, settings, file: dict) -> dict:
    bucket = settings.bucket(file["purpose"])
    tagging = s3.get_object_tagging(Bucket=bucket, Key=f"{file['category']}/{file['filename']}")
    return {t["Key"]: t["Value"] for t in tagging["TagSet"]}


def test_every_type_is_parsed_and_summarised(client, api, s3, settings, redis_client):
    files = {name: upload(client, name, data) for name, (data, _) in GOOD.items()}
    assert {metadata(client, f["path"])["status"] for f in files.values()} == {"pending"}
    assert client.get("/api/v1/data/files", params={"status": "pending"}).json()["total"] == len(GOOD)

    burst(api.env)

    for name, (_, expected) in GOOD.items():
        meta = metadata(client, files[name]["path"])
        assert meta["status"] == "done", (name, meta["error"])
        assert {k: meta["summary"][k] for k in expected} == expected, (name, meta["summary"])
        assert meta["processed_at"] and meta["error"] is None
        assert tags_of(s3, settings, files[name])["status"] == "done"
    listing = client.get("/api/v1/data/files", params={"status": "done"}).json()
    assert listing["total"] == len(GOOD) and {f["status"] for f in listing["files"]} == {"done"}
    assert client.get("/api/v1/data/files", params={"status": "pending"}).json()["total"] == 0
    both = client.get("/api/v1/data/files", params={"status": "done", "category": "audio"}).json()
    assert [f["original_filename"] for f in both["files"]] == ["voice.wav"]

    events = client.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    kinds = [e["type"] for e in events]
    assert kinds.count("io.depot.file.uploaded") == len(GOOD) and kinds.count("io.depot.file.processed") == len(GOOD)
    assert kinds.count("io.depot.file.processing") == len(GOOD)
    processed = next(e for e in events if e["type"] == "io.depot.file.processed"
                     and e["subject"] == files["qa.csv"]["path"])
    assert processed["data"]["summary"]["rows"] == 3 and processed["data"]["hash"] == files["qa.csv"]["hash"]


def test_malformed_files_end_failed_with_a_useful_error(client, api, s3, settings):
    files = {name: upload(client, name, data, purpose="training") for name, (data, _) in MALFORMED.items()}
    burst(api.env)
    for name, (_, words) in MALFORMED.items():
        meta = metadata(client, files[name]["path"])
        assert meta["status"] == "failed" and words in meta["error"], (name, meta)
        assert tags_of(s3, settings, files[name])["status"] == "failed"
    failed = client.get("/api/v1/data/files", params={"status": "failed", "purpose": "training"}).json()
    assert failed["total"] == len(MALFORMED) and all(f["error"] for f in failed["files"])
    events = [e for e in client.get("/api/v1/events", params={"limit": 1000}).json()["events"]
              if e["type"] == "io.depot.file.failed"]
    assert len(events) == len(MALFORMED) and all(e["data"]["error"] for e in events)


def test_zip_bomb_fails_by_limit(client, api):
    file = upload(client, "bomb.zip", zip_archive({"zeros.bin": b"\x00" * 3_000_000}))
    burst(api.env, archive_max_ratio="50")
    meta = metadata(client, file["path"])
    assert meta["status"] == "failed" and "expands more than 50x" in meta["error"]


def test_rerun_is_idempotent_and_reindex_keeps_status(client, api, redis_client):
    done = upload(client, "a.json", b'{"x": 1}')
    bad = upload(client, "b.json", b'{"x": ')
    burst(api.env)
    before = [client.get("/api/v1/data/files", params=q).json()
              for q in ({}, {"status": "done"}, {"status": "failed"}, {"status": "failed", "category": "data"})]
    assert before[1]["total"] == 1 and before[2]["total"] == 1
    # A second run of the same job leaves the result alone (arq is at-least-once).
    redis_client.delete(f"arq:result:process:{done['path']}")
    events_before = len(client.get("/api/v1/events").json()["events"])
    asyncio.run(enqueue(api.env["DEPOT_REDIS_URL"], "process_file", done["path"]))
    burst(api.env)
    assert metadata(client, done["path"])["status"] == "done"
    assert len(client.get("/api/v1/events").json()["events"]) == events_before

    redis_client.flushdb()
    out = subprocess.run([sys.executable, "-m", "service", "reindex"], env=api.env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    after = [client.get("/api/v1/data/files", params=q).json()
             for q in ({}, {"status": "done"}, {"status": "failed"}, {"status": "failed", "category": "data"})]
    assert after == before
    assert [f["status"] for f in after[0]["files"] if f["path"] == bad["path"]] == ["failed"]


def test_deleted_before_processing_is_skipped(client, api):
    file = upload(client, "gone.csv", b"a,b\n1,2\n")
    assert client.delete(f"/api/v1/data/files/{file['path']}").status_code == 200
    burst(api.env)
    assert client.get(f"/api/v1/data/files/{file['path']}", params={"metadata": "true"}).status_code == 404
    kinds = [e["type"] for e in client.get("/api/v1/events").json()["events"]]
    assert kinds == ["io.depot.file.uploaded", "io.depot.file.deleted"]


@pytest.mark.parametrize("query, error", [({"status": "weird"}, "status"), ({"after": "nope"}, "invalid event id")])
def test_bad_filters_are_400_json(client, query, error):
    url = "/api/v1/events" if "after" in query else "/api/v1/data/files"
    response = client.get(url, params=query)
    assert response.status_code == 400 and response.json()["success"] is False
    assert error in response.json()["error"]


def worker_peak_rss(env: dict[str, str]) -> int:
    """Run a burst worker and sample its resident memory until it exits; the peak in bytes."""
    import time

    import psutil

    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "service", "worker", "--burst"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log, text=True)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        log.seek(0)
        assert process.wait(120) == 0, log.read()[-3000:]
    return peak


def test_large_files_parse_in_bounded_memory(client, api):
    """20 MiB of JSON records, CSV rows and log lines: the worker's peak grows by far less than that."""
    small = upload(client, "tiny.json", b"[1]")
    baseline = worker_peak_rss(api.env)
    assert metadata(client, small["path"])["status"] == "done"
    mib = 1024 * 1024
    record = b'{"id": 123456, "text": "the quick brown fox jumps over the lazy dog", "ok": true}'
    count = 20 * mib // (len(record) + 1)
    big_json = b"[" + b",".join([record] * count) + b"]"
    big_csv = b"id,text\n" + b"7,some words in a row\n" * (20 * mib // 22)
    big_log = b"2026-01-01T00:00:00Z INFO request served in 3 ms\n" * (20 * mib // 49)
    files = [upload(client, n, d) for n, d in (("big.json", big_json), ("big.csv", big_csv), ("big.log", big_log))]
    del big_json, big_csv, big_log
    peak = worker_peak_rss(api.env)
    summaries = [metadata(client, f["path"]) for f in files]
    assert [m["status"] for m in summaries] == ["done"] * 3, [m["error"] for m in summaries]
    assert summaries[0]["summary"]["records"] == count
    assert summaries[1]["summary"]["rows"] == 20 * mib // 22
    assert summaries[2]["summary"]["levels"] == {"INFO": 20 * mib // 49}
    print(f"\nworker peak RSS: {baseline / mib:.1f} MiB idle run, {peak / mib:.1f} MiB parsing 3 x 20 MiB")
    assert peak - baseline < 25 * mib
