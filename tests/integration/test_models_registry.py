"""The registry, idempotent jobs (a killed worker, a job run twice) and the upstream cache."""

import asyncio
import signal
import subprocess
import sys
import time

from arq.connections import ArqRedis

from tests.fakes.hf_hub import demo_files, safetensors_weights
from tests.integration.model_fixtures import created, follow, model_keys, run_worker, stored

MIB = 1024 * 1024


def import_hf(client, tag: str, revision: str = "main") -> str:
    return created(client.post("/v1/upload/huggingface", json={"model_tag": tag, "revision": revision}))


def test_worker_killed_mid_import_reruns_to_exactly_one_model(hub, mclient, model_env, s3, settings, redis_client,
                                                              tmp_path):
    files = {"config.json": b"{}", "tokenizer.json": b"{}", "model.safetensors": safetensors_weights(24 * MIB, seed=4)}
    hub.add_model("acme/slow", files)
    hub.rate = 4 * MIB  # bytes per second: six seconds of download, a multipart upload open from 2 s on
    location = import_hf(mclient, "acme/slow")
    task_id = location.rsplit("/", 1)[1]
    bucket = settings.bucket("models")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=model_env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"):
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    running = mclient.get(location).json()
    assert running["task_status"] in ("RUNNING", "PENDING"), (running, (tmp_path / "worker.log").read_text())
    assert mclient.get("/v1/models/huggingface/acme/slow@main").status_code == 404  # nothing half-visible
    # arq re-runs a job whose worker died once its in-progress mark expires (job_timeout + 10 s);
    # expire it now instead of waiting.
    redis_client.delete(f"arq:in-progress:{task_id}")
    hub.rate = None
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    assert task["attempts"] >= 2
    mid = "huggingface/acme/slow@main"
    assert model_keys(s3, bucket, mid + "/") == sorted(f"{mid}/{p}" for p in files)
    for path, value in files.items():
        assert stored(s3, bucket, f"{mid}/{path}") == (value if isinstance(value, bytes) else value.read())
    assert mclient.get("/v1/models").json()["total"] == 1
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_job_run_twice_gives_one_model(hub, mclient, model_env, redis_server):
    hub.add_model("acme/twice", demo_files(MIB))
    location = import_hf(mclient, "acme/twice")
    task_id = location.rsplit("/", 1)[1]
    assert follow(mclient, location, model_env)["task_status"] == "DONE"
    first = mclient.get("/v1/models/huggingface/acme/twice@main").json()

    async def enqueue_again() -> None:  # at-least-once delivery: the same task arrives again
        pool = ArqRedis.from_url(redis_server.url)
        try:
            assert await pool.enqueue_job("import_model", task_id, _job_id=task_id + "-again") is not None
        finally:
            await pool.aclose()

    asyncio.run(enqueue_again())
    run_worker(model_env)
    assert mclient.get(location).json()["task_status"] == "DONE"
    assert mclient.get("/v1/models/huggingface/acme/twice@main").json() == first
    assert mclient.get("/v1/models").json()["total"] == 1


def test_registry_list_get_delete(hub, mclient, model_env, s3, settings):
    for i in range(3):
        hub.add_model(f"acme/r{i}", demo_files(MIB))
        assert follow(mclient, import_hf(mclient, f"acme/r{i}"), model_env)["task_status"] == "DONE"
    page = mclient.get("/v1/models", params={"limit": 2}).json()
    assert page["total"] == 3 and [m["id"] for m in page["models"]] == ["huggingface/acme/r2@main",
                                                                         "huggingface/acme/r1@main"]
    rest = mclient.get("/v1/models", params={"limit": 2, "offset": 2}).json()
    assert [m["id"] for m in rest["models"]] == ["huggingface/acme/r0@main"]
    assert mclient.get("/v1/models", params={"source": "github"}).json()["total"] == 0
    assert mclient.get("/v1/models", params={"source": "svn"}).status_code == 400

    manifest = mclient.get("/v1/models/huggingface/acme/r1@main").json()
    assert {"source", "name", "revision", "resolved_commit", "files", "imported_at", "task_id"} <= manifest.keys()
    assert all({"path", "size", "sha256"} <= f.keys() for f in manifest["files"])

    assert mclient.delete("/v1/models/huggingface/acme/r1@main").status_code == 204
    assert mclient.get("/v1/models/huggingface/acme/r1@main").status_code == 404
    assert model_keys(s3, settings.bucket("models"), "huggingface/acme/r1@main") == []
    assert mclient.get("/v1/models").json()["total"] == 2
    gone = mclient.delete("/v1/models/huggingface/acme/r1@main")
    assert gone.status_code == 404 and gone.json()["success"] is False
    assert mclient.get("/v1/models/not-a-source/x@main").status_code == 404
    assert mclient.get("/v1/upload/tasks/not-a-task").status_code == 404
    assert mclient.get("/v1/upload/tasks/" + "0" * 32).status_code == 404
    # deleted means importable again
    assert follow(mclient, import_hf(mclient, "acme/r1"), model_env)["task_status"] == "DONE"


def test_delete_while_importing_is_409(hub, mclient):
    hub.add_model("acme/busy", demo_files(MIB))
    import_hf(mclient, "acme/busy")
    answer = mclient.delete("/v1/models/huggingface/acme/busy@main")
    assert answer.status_code == 409 and answer.json()["success"] is False


def test_reimport_of_same_commit_comes_from_cache(hub, mclient, model_env, s3, settings):
    files = demo_files(4 * MIB)
    commit = hub.add_model("acme/cached", files)
    assert follow(mclient, import_hf(mclient, "acme/cached"), model_env)["task_status"] == "DONE"
    assert mclient.delete("/v1/models/huggingface/acme/cached@main").status_code == 204
    before = sum(hub.downloads.values())
    # the same commit by its sha: another model id, same upstream bytes
    for revision in ("main", commit):
        task = follow(mclient, import_hf(mclient, "acme/cached", revision), model_env)
        assert task["task_status"] == "DONE" and task["resolved_commit"] == commit
    assert sum(hub.downloads.values()) == before  # nothing fetched again
    mid = f"huggingface/acme/cached@{commit}"
    for path, value in files.items():
        assert stored(s3, settings.bucket("models"), f"{mid}/{path}") == (
            value if isinstance(value, bytes) else value.read())


def test_cache_is_bounded(hub, mclient, model_env):
    env = {**model_env, "DEPOT_MODEL_CACHE_BYTES": str(5 * MIB)}
    for name, seed in (("acme/a", 1), ("acme/b", 2)):
        hub.add_model(name, {"config.json": b"{}", "model.safetensors": safetensors_weights(3 * MIB, seed=seed)})
        assert follow(mclient, import_hf(mclient, name), env)["task_status"] == "DONE"
    for name in ("acme/a", "acme/b"):
        assert mclient.delete(f"/v1/models/huggingface/{name}@main").status_code == 204
    for name in ("acme/b", "acme/a"):
        assert follow(mclient, import_hf(mclient, name), env)["task_status"] == "DONE"
    # b was still cached; a had been evicted to keep the cache under 5 MiB
    assert hub.downloads["acme/b/model.safetensors"] == 1
    assert hub.downloads["acme/a/model.safetensors"] == 2


def test_revision_with_a_slash(hub, mclient, model_env, s3, settings):
    files = demo_files(MIB)
    commit = hub.add_model("acme/pr", files, revision="refs/pr/1")
    task = follow(mclient, import_hf(mclient, "acme/pr", "refs/pr/1"), model_env)
    assert task["task_status"] == "DONE" and task["model_ids"] == ["huggingface/acme/pr@refs~pr~1"]
    manifest = mclient.get("/v1/models/huggingface/acme/pr@refs~pr~1").json()
    assert manifest["revision"] == "refs/pr/1" and manifest["resolved_commit"] == commit
    assert stored(s3, settings.bucket("models"), "huggingface/acme/pr@refs~pr~1/config.json") == files["config.json"]


def test_reindex_rebuilds_the_registry_from_manifests(hub, mclient, model_env, redis_client):
    hub.add_model("acme/durable", demo_files(MIB))
    assert follow(mclient, import_hf(mclient, "acme/durable"), model_env)["task_status"] == "DONE"
    before = mclient.get("/v1/models").json()
    for pattern in ("*models:model:*", "*models:idx:*", "*models:claim:*"):
        for key in redis_client.keys(pattern):
            redis_client.delete(key)
    assert mclient.get("/v1/models").json()["total"] == 0
    out = subprocess.run([sys.executable, "-m", "service", "reindex"], env=model_env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert "indexed 1 models" in out.stderr
    assert mclient.get("/v1/models").json() == before
    assert mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/durable"}).status_code == 409


def test_worker_lost_during_the_last_try_marks_the_task_failed(hub, mclient, model_env, redis_client, s3, settings):
    hub.add_model("acme/lost", demo_files(MIB))
    location = import_hf(mclient, "acme/lost")
    task_id = location.rsplit("/", 1)[1]
    redis_client.set(f"arq:retry:{task_id}", 3)  # three tries already started and died with their workers
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "FAILED" and "gave up after 3 tries" in task["error_msg"]
    assert model_keys(s3, settings.bucket("models"), "huggingface/") == []
    created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/lost"}))  # the id is free again
