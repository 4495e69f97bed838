"""ML data formats against the real stack: sniffed at upload, parsed by a worker, filtered and counted."""

import pytest

from tests.conftest import open_uploads, stored_keys
from tests.ml_samples import ML_GOOD, ML_MALFORMED, PNG, parquet
from tests.support import run_worker_burst


def nothing_stored(s3, settings) -> bool:
    return all(
        stored_keys(s3, settings.bucket(p)) == [] and open_uploads(s3, settings.bucket(p)) == []
        for p in ("training", "ingestion")
    )


def upload(client, name: str, data: bytes, **fields: str) -> dict:
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()["file"]


def metadata(client, path: str) -> dict:
    return client.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]


def burst(env: dict[str, str]) -> None:
    result = run_worker_burst(env)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_ml_format_is_stored_parsed_filtered_and_counted(client, api):
    names = sorted(ML_GOOD)
    files = {
        name: upload(client, name, ML_GOOD[name][0], purpose=("training", "ingestion")[i % 2])
        for i, name in enumerate(names)
    }
    images = {n for n in names if n.rsplit(".", 1)[1] in ("png", "jpg", "jpeg", "webp")}
    assert {files[n]["category"] for n in images} == {"image"}
    assert {files[n]["category"] for n in set(names) - images} == {"data"}
    assert files["train.parquet"]["content_type"] == "application/vnd.apache.parquet"

    burst(api.env)

    for name, (_, expected) in ML_GOOD.items():
        meta = metadata(client, files[name]["path"])
        assert meta["status"] == "done", (name, meta["error"])
        assert {k: meta["summary"][k] for k in expected} == expected, (name, meta["summary"])
    listing = client.get("/api/v1/data/files", params={"category": "image", "status": "done"}).json()
    assert sorted(f["original_filename"] for f in listing["files"]) == sorted(images)
    training = client.get("/api/v1/data/files", params={"category": "image", "purpose": "training"}).json()
    assert {f["purpose"] for f in training["files"]} == {"training"} and 0 < training["total"] < len(images)
    stats = client.get("/api/v1/data/stats").json()["stats"]
    assert stats["by_category"]["image"]["count"] == len(images)
    for purpose in ("training", "ingestion"):
        expected = sum(1 for n in images if files[n]["purpose"] == purpose)
        assert stats["by_purpose"][purpose]["by_category"]["image"]["count"] == expected > 0


def test_malformed_ml_files_end_failed_with_a_useful_error(client, api):
    files = {name: upload(client, name, data) for name, (data, _) in ML_MALFORMED.items()}
    burst(api.env)
    for name, (_, words) in ML_MALFORMED.items():
        meta = metadata(client, files[name]["path"])
        assert meta["status"] == "failed" and words in meta["error"], (name, meta)


@pytest.mark.parametrize(
    "name, data, fields, error",
    [
        ("t.parquet", b"not parquet at all, PAR1", {}, "does not start with PAR1"),
        ("t.parquet", parquet()[:-1], {}, "does not end with PAR1"),
        ("c.arrow", b"ARROW1\x00\x00 and then nothing", {}, "does not end with ARROW1"),
        ("cat.png", b"GIF89a" + b"\x00" * 40, {}, "not a PNG image"),
        ("cat.png", PNG, {"category": "audio"}, "a .png file is 'image', not 'audio'"),
        ("chat.jsonl", b"hello\n", {}, "does not start like JSON"),
    ],
)
def test_mismatched_ml_content_is_400_and_stores_nothing(client, s3, settings, name, data, fields, error):
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False and error in response.json()["error"]
    assert nothing_stored(s3, settings)
