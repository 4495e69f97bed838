"""Hugging Face dataset imports end to end: real API and worker, SeaweedFS, Redis and the fake Hub."""

import pytest

from tests.fakes.hf_hub import demo_datasets
from tests.integration.model_fixtures import created, follow
from tests.ml_samples import parquet

URL = "/api/v1/data/import/huggingface"


def files_of(client, **query) -> dict[str, dict]:
    listing = client.get("/api/v1/data/files", params={"limit": 100, **query}).json()
    return {f["original_filename"]: f for f in listing["files"]}


def test_parquet_dataset_with_two_splits_is_imported_and_parsed(hub, mclient, model_env, s3, settings):
    commit = hub.add_dataset("depot/tiny-parquet", demo_datasets()["depot/tiny-parquet"])
    location = created(mclient.post(URL, json={"repo_id": "depot/tiny-parquet", "purpose": "training"}))
    pending = mclient.get(location).json()
    assert pending["task_status"] == "PENDING" and pending["kind"] == "dataset"
    assert pending["model_tag"] == "datasets/depot/tiny-parquet@main" and pending["model_ids"] == []

    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    assert task["resolved_commit"] == commit and task["error_msg"] is None
    report = task["report"]
    assert (report["files_stored"], report["files_skipped"], report["files_failed"]) == (3, 1, 0)
    assert [s["hub_path"] for s in report["skipped"]] == [".gitattributes"]
    assert "not allowed" in report["skipped"][0]["reason"]

    stored = files_of(mclient, purpose="training")
    assert set(stored) == {"train-00000-of-00001.parquet", "test-00000-of-00001.parquet", "README.md"}
    train = stored["train-00000-of-00001.parquet"]
    assert train["category"] == "data" and train["status"] == "done"
    meta = mclient.get(f"/api/v1/data/files/{train['path']}", params={"metadata": "true"}).json()["metadata"]
    assert meta["summary"]["rows"] == 10 and meta["summary"]["row_groups"] == 3
    assert meta["metadata"]["hub_path"] == "data/train-00000-of-00001.parquet"
    assert meta["metadata"]["commit"] == commit and meta["metadata"]["task_id"] == task["id"]
    test_split = mclient.get(
        f"/api/v1/data/files/{stored['test-00000-of-00001.parquet']['path']}", params={"metadata": "true"}
    ).json()["metadata"]
    assert test_split["summary"]["rows"] == 4
    assert mclient.get(f"/api/v1/data/files/{train['path']}").content == parquet(10)
    tags = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket=settings.bucket("training"), Key=f"data/{train['filename']}")["TagSet"]
    }
    assert tags["purpose"] == "training" and tags["category"] == "data" and tags["status"] == "done"
    assert {e["type"] for e in mclient.get("/api/v1/events", params={"limit": 100}).json()["events"]} >= {
        "io.depot.file.uploaded",
        "io.depot.file.processed",
    }

    # the same repo + revision again: 409, whether it is done or in flight
    again = mclient.post(URL, json={"repo_id": "depot/tiny-parquet", "purpose": "ingestion"})
    assert again.status_code == 409 and again.json()["success"] is False


def test_jsonl_dataset_with_patterns_and_a_category(hub, mclient, model_env):
    hub.add_dataset("depot/chat-sft", demo_datasets()["depot/chat-sft"])
    location = created(
        mclient.post(
            URL,
            json={
                "repo_id": "depot/chat-sft",
                "purpose": "ingestion",
                "category": "data",
                "ignore_patterns": ["valid.*"],
            },
        )
    )
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    report = task["report"]
    assert [s["hub_path"] for s in report["stored"]] == ["train.jsonl"]
    assert [s["hub_path"] for s in report["skipped"]] == ["prepare.py"]
    summary = mclient.get(f"/api/v1/data/files/{report['stored'][0]['path']}", params={"metadata": "true"}).json()[
        "metadata"
    ]["summary"]
    assert summary["layout"] == "openai_chat" and summary["records"] == 6 and summary["layout_errors"] == 0


def test_files_the_commit_refuses_fail_alone(hub, mclient, model_env):
    hub.add_dataset(
        "depot/mixed", {"good.csv": b"a,b\n1,2\n", "bad.parquet": b"this is not parquet", "copy.csv": b"a,b\n1,2\n"}
    )
    task = follow(
        mclient, created(mclient.post(URL, json={"repo_id": "depot/mixed", "purpose": "training"})), model_env
    )
    assert task["task_status"] == "DONE", task
    report = task["report"]
    assert [f["hub_path"] for f in report["failed"]] == ["bad.parquet"]
    assert "does not start with PAR1" in report["failed"][0]["error"]
    by_path = {s["hub_path"]: s for s in report["stored"]}
    assert by_path["good.csv"]["duplicate_of"] == by_path["copy.csv"]["path"]  # dedup, as for uploads
    assert files_of(mclient, purpose="training").keys() == {"good.csv", "copy.csv"}


def test_a_transient_fault_is_retried_and_the_rerun_continues_after_the_stored_files(hub, mclient, model_env):
    hub.add_dataset("depot/flaky", {"a.jsonl": b'{"x": 1}\n', "b.jsonl": b'{"x": 2}\n'})
    location = created(mclient.post(URL, json={"repo_id": "depot/flaky", "purpose": "training"}))
    hub.fail("/b.jsonl", 503, times=1)  # a.jsonl is stored by the first try, b.jsonl's download fails
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE" and task["attempts"] == 2, task
    assert [s["hub_path"] for s in task["report"]["stored"]] == ["a.jsonl", "b.jsonl"]
    assert hub.downloads["datasets/depot/flaky/a.jsonl"] == 1  # not fetched (nor stored) again
    assert sorted(files_of(mclient, purpose="training")) == ["a.jsonl", "b.jsonl"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"repo_id": "depot/nope", "purpose": "training"}, 404, "dataset not found"),
        ({"repo_id": "depot/tiny-parquet", "revision": "v9", "purpose": "training"}, 404, "revision not found"),
        ({"repo_id": "../etc", "purpose": "training"}, 400, "invalid"),
        ({"repo_id": "depot/tiny-parquet", "purpose": "archive"}, 400, ""),
        ({"repo_id": "depot/tiny-parquet", "purpose": "training", "category": "video"}, 400, ""),
        ({"repo_id": "depot/tiny-parquet", "purpose": "training", "allow_patterns": ["a\nb"]}, 400, "pattern"),
    ],
)
def test_bad_requests_fail_before_a_task_exists(hub, mclient, model_env, body, status, words):
    hub.add_dataset("depot/tiny-parquet", demo_datasets()["depot/tiny-parquet"])
    response = mclient.post(URL, json=body)
    assert response.status_code == status, response.text
    assert response.json()["success"] is False and words in response.json()["error"]
    assert mclient.get("/api/v1/data/files").json()["total"] == 0
