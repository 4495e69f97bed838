"""Hugging Face imports end to end: real API and worker processes, SeaweedFS, Redis, a fake Hub."""

import json

from tests.fakes.hf_hub import demo_files, pickle_weights
from tests.integration.model_fixtures import HF_TOKEN, created, follow, model_keys, stored

MIB = 1024 * 1024


def content(value) -> bytes:
    return value if isinstance(value, bytes) else value.read()


def assert_stored(s3, bucket: str, mid: str, files: dict) -> None:
    """Exactly these files under the model's prefix, byte for byte, plus the manifest beside it."""
    assert model_keys(s3, bucket, mid + "/") == sorted(f"{mid}/{p}" for p in files)
    for path, value in files.items():
        assert stored(s3, bucket, f"{mid}/{path}") == content(value), path
    assert json.loads(stored(s3, bucket, f"{mid}.meta.json"))["id"] == mid


def test_import_sharded_safetensors_byte_for_byte(hub, mclient, model_env, s3, settings):
    files = demo_files(12 * MIB)  # two shards, each a multipart upload
    files["sub/dir/extra.txt"] = b"nested files keep their paths"
    commit = hub.add_model("acme/tiny-bert", files)

    location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/tiny-bert"}))
    pending = mclient.get(location).json()
    assert pending["task_status"] == "PENDING"
    assert pending["source"] == "HUGGINGFACE" and pending["model_tag"] == "acme/tiny-bert@main"
    assert pending["id"] == location.rsplit("/", 1)[1]

    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    assert task["error_msg"] is None and task["resolved_commit"] == commit
    mid = "huggingface/acme/tiny-bert@main"
    assert task["model_ids"] == [mid]
    bucket = settings.bucket("models")
    assert_stored(s3, bucket, mid, files)

    manifest = mclient.get(f"/v1/models/{mid}").json()
    assert manifest["resolved_commit"] == commit and manifest["task_id"] == task["id"]
    by_path = {f["path"]: f for f in manifest["files"]}
    assert by_path["model-00002-of-00002.safetensors"]["sha256"] == files["model-00002-of-00002.safetensors"].sha256
    assert by_path["config.json"]["size"] == len(files["config.json"])
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(
        Bucket=bucket, Key=f"{mid}/config.json")["TagSet"]}
    assert tags["source"] == "huggingface" and tags["commit"] == commit
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # the configured token went with every call: repo info, tree pages and file downloads
    assert len(hub.auth) > 8 and set(hub.auth) == {f"Bearer {HF_TOKEN}"}


def test_pytorch_bin_layout_accepted(hub, mclient, model_env, s3, settings):
    files = {"config.json": b"{}", "pytorch_model.bin": pickle_weights(3 * MIB, seed=5), "vocab.txt": b"a\nb\n"}
    hub.add_model("bert-base-uncased", files)
    task = follow(mclient, created(mclient.post("/v1/upload/huggingface",
                                                json={"model_tag": "bert-base-uncased", "revision": "main"})),
                  model_env)
    assert task["task_status"] == "DONE", task
    assert_stored(s3, settings.bucket("models"), "huggingface/bert-base-uncased@main", files)


def test_missing_model_or_revision_is_404_before_any_task(hub, mclient, s3, settings, redis_client):
    hub.add_model("acme/real", demo_files(MIB))
    for body, word in [({"model_tag": "acme/ghost"}, "model"),
                       ({"model_tag": "acme/real", "revision": "nope"}, "revision")]:
        answer = mclient.post("/v1/upload/huggingface", json=body)
        assert answer.status_code == 404, answer.text
        assert answer.json()["success"] is False and word in answer.json()["error"]
    assert model_keys(s3, settings.bucket("models"), "") == []
    assert redis_client.keys("*models:task:*") == []


def test_invalid_names_are_400(mclient):
    for body in [{"model_tag": "../etc"}, {"model_tag": "a/b/c"}, {"model_tag": ""},
                 {"model_tag": "ok", "revision": "a..b"}, {"model_tag": "ok", "revision": "x y"},
                 {"revision": "main"}]:
        answer = mclient.post("/v1/upload/huggingface", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["success"] is False


def test_same_revision_409_other_revision_201(hub, mclient, model_env):
    hub.add_model("acme/m", demo_files(MIB), revision="main")
    hub.add_model("acme/m", {**demo_files(MIB), "README.md": b"v2"}, revision="v2")
    first = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/m"}))
    in_flight = mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/m", "revision": "main"})
    assert in_flight.status_code == 409 and in_flight.json()["success"] is False
    other = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/m", "revision": "v2"}))
    assert follow(mclient, first, model_env)["task_status"] == "DONE"
    assert follow(mclient, other)["task_status"] == "DONE"
    imported = mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/m"})
    assert imported.status_code == 409, imported.text
    for empty in ("", None):  # an empty revision is the default one, as if omitted
        same = mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/m", "revision": empty})
        assert same.status_code == 409 and "huggingface/acme/m@main" in same.json()["error"], same.text
    listing = mclient.get("/v1/models", params={"source": "HUGGINGFACE"}).json()
    assert sorted(m["id"] for m in listing["models"]) == ["huggingface/acme/m@main", "huggingface/acme/m@v2"]


def test_upstream_500_twice_then_ok_is_done_after_retries(hub, mclient, model_env, s3, settings):
    files = demo_files(2 * MIB)
    hub.add_model("acme/flaky", files)
    location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/flaky"}))
    hub.fail("config.json", status=500, times=2)
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    assert task["attempts"] == 3
    assert_stored(s3, settings.bucket("models"), "huggingface/acme/flaky@main", files)


def test_upstream_500_forever_fails_after_three_tries(hub, mclient, model_env, s3, settings):
    hub.add_model("acme/down", demo_files(MIB))
    location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/down"}))
    hub.fail("tokenizer.json", status=503, times=10)
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "FAILED" and task["attempts"] == 3
    assert "gave up after 3 tries" in task["error_msg"] and "503" in task["error_msg"]
    assert model_keys(s3, settings.bucket("models"), "huggingface/") == []


def test_permanent_404_mid_import_fails_at_once(hub, mclient, model_env, s3, settings):
    hub.add_model("acme/broken", demo_files(2 * MIB))
    location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/broken"}))
    hub.fail("model-00002-of-00002.safetensors", status=404, times=1)
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "FAILED" and task["attempts"] == 1
    assert "not found" in task["error_msg"]
    assert model_keys(s3, settings.bucket("models"), "huggingface/") == []
    assert mclient.get("/v1/models/huggingface/acme/broken@main").status_code == 404
    # a failed import frees the id: asking again is allowed
    created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/broken"}))


def test_repo_without_weights_fails_with_a_clear_message(hub, mclient, model_env):
    hub.add_model("acme/card-only", {"config.json": b"{}", "README.md": b"# nothing"})
    task = follow(mclient, created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/card-only"})),
                  model_env)
    assert task["task_status"] == "FAILED" and "no *.safetensors" in task["error_msg"]
