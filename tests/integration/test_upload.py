"""Upload: streaming into S3, layout, tags, manifest, limits and the no-overwrite rule."""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import TEST_MAX_UPLOAD, open_uploads, stored_keys
from tests.support import HEADS, MIB, multipart_stream, pattern_chunks, raw_http

PART = 6 * MIB  # DEPOT_PART_SIZE default: the boundary between one PutObject and a multipart upload


def upload(client: httpx.Client, name: str, data: bytes, **fields: str) -> httpx.Response:
    return client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)


@pytest.mark.parametrize(
    "size", [0, 1, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1, PART - 1, PART, PART + 1, 17 * MIB]
)
def test_round_trip_is_byte_exact_around_part_boundaries(client, s3, settings, size):
    # Uploads are sniffed: random bytes must look like a ZIP (or, too short for that, be text).
    data = b"x" * size if size < 4 else HEADS["zip"] + os.urandom(size - 4)
    response = upload(client, "blob.txt" if size < 4 else "blob.zip", data, purpose="training")
    assert response.status_code == 201, response.text
    file = response.json()["file"]
    assert file["size"] == size
    assert file["hash"] == hashlib.sha256(data).hexdigest()
    back = client.get(f"/api/v1/data/files/{file['path']}")
    assert back.status_code == 200
    assert back.content == data
    assert back.headers["content-length"] == str(size)
    bucket = settings.bucket("training")
    key = f"{file['category']}/{file['filename']}"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert open_uploads(s3, bucket) == []


def test_storage_layout_tags_and_manifest(client, s3, settings):
    response = upload(client, "notes.md", b"# hi\n", purpose="ingestion", description="d",
                      metadata='{"source": "unit"}')
    file = response.json()["file"]
    bucket = settings.bucket("ingestion")
    key = f"text/{file['filename']}"
    assert stored_keys(s3, bucket) == [key, key + ".meta.json"]
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    assert tags == {"purpose": "ingestion", "category": "text", "sha256": hashlib.sha256(b"# hi\n").hexdigest(),
                    "status": "pending"}
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key + ".meta.json")["Body"].read())
    assert manifest["original_filename"] == "notes.md" and manifest["filename"] == file["filename"]
    assert manifest["description"] == "d" and manifest["metadata"] == {"source": "unit"}
    assert manifest["size"] == 5 and manifest["hash"] == tags["sha256"]
    assert manifest["content_type"] == "text/markdown" and manifest["uploaded_at"] == file["uploaded_at"]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == "text/markdown"


@pytest.mark.parametrize("size", [1024, PART * 2 + 123])
def test_fields_after_the_file_part(client, s3, settings, size):
    """curl sends fields in argument order; a large file whose purpose arrives late still lands right."""
    content_type, body = multipart_stream(
        {}, "late.csv", pattern_chunks(size, head=HEADS["csv"]),
        {"purpose": "training", "category": "data", "description": "late"}
    )
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 201, response.text
    file = response.json()["file"]
    assert file["purpose"] == "training" and file["description"] == "late" and file["size"] == size
    assert stored_keys(s3, settings.bucket("ingestion")) == []
    assert len(stored_keys(s3, settings.bucket("training"))) == 2
    expected = hashlib.sha256(b"".join(pattern_chunks(size, head=HEADS["csv"]))).hexdigest()
    assert file["hash"] == expected
    assert hashlib.sha256(client.get(f"/api/v1/data/files/{file['path']}").content).hexdigest() == expected


def test_late_invalid_field_after_large_file_leaves_nothing(client, s3, settings):
    content_type, body = multipart_stream({}, "x.csv", pattern_chunks(PART * 2, head=HEADS["csv"]),
                                           {"category": "audio"})
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and "not 'audio'" in response.json()["error"]
    for purpose in ("training", "ingestion"):
        assert stored_keys(s3, settings.bucket(purpose)) == []
        assert open_uploads(s3, settings.bucket(purpose)) == []


def test_size_limit_mid_stream_is_413_and_leaves_nothing(client, s3, settings):
    """No Content-Length (chunked): the limit trips while streaming, after parts were sent."""
    content_type, body = multipart_stream({"purpose": "training"}, "big.zip",
                                           pattern_chunks(TEST_MAX_UPLOAD + 1, head=HEADS["zip"]))
    try:
        response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
        assert response.status_code == 413
        assert response.json() == {"success": False, "error": f"file exceeds the upload limit of {TEST_MAX_UPLOAD} bytes"}
    except httpx.TransportError:
        pass  # the server may close the connection while the client is still sending
    assert stored_keys(s3, settings.bucket("training")) == []
    assert open_uploads(s3, settings.bucket("training")) == []
    assert client.get("/api/v1/data/stats").json()["stats"]["total_files"] == 0


def test_exactly_the_limit_is_accepted(client):
    content_type, body = multipart_stream({}, "edge.zip", pattern_chunks(TEST_MAX_UPLOAD, head=HEADS["zip"]))
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 201 and response.json()["file"]["size"] == TEST_MAX_UPLOAD


def test_announced_oversize_is_rejected_before_reading(client, api):
    status, body = raw_http(api.url, (
        "POST /api/v1/data/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {TEST_MAX_UPLOAD * 2}\r\n\r\n--b\r\n").encode())
    assert status == 413 and json.loads(body)["success"] is False


def test_same_name_uploads_never_overwrite(client):
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: upload(client, "same.json", f'{{"n": {i}}}'.encode(),
                                                   purpose="training"), range(8)))
    assert [r.status_code for r in responses] == [201] * 8
    paths = {r.json()["file"]["path"] for r in responses}
    assert len(paths) == 8
    bodies = {client.get(f"/api/v1/data/files/{p}").content for p in paths}
    assert bodies == {f'{{"n": {i}}}'.encode() for i in range(8)}
    assert client.get("/api/v1/data/files").json()["total"] == 8


def test_forged_system_metadata_is_kept_apart(client, s3, settings):
    forged = {"hash": "0" * 64, "size": 1, "purpose": "training", "path": "../../etc/passwd",
              "uploaded_at": "1999-01-01T00:00:00", "filename": "evil.exe"}
    response = upload(client, "real.json", b'{"ok": true}', metadata=json.dumps(forged))
    file = response.json()["file"]
    assert file["hash"] == hashlib.sha256(b'{"ok": true}').hexdigest()
    assert file["size"] == 12 and file["purpose"] == "ingestion" and file["filename"] != "evil.exe"
    assert file["metadata"] == forged
    meta = client.get(f"/api/v1/data/files/{file['path']}", params={"metadata": "true"}).json()["metadata"]
    assert meta["hash"] == file["hash"] and meta["size"] == 12 and meta["metadata"] == forged
    listed = client.get("/api/v1/data/files").json()["files"][0]
    assert listed["hash"] == file["hash"] and listed["path"] == file["path"]


@pytest.mark.parametrize(
    "files, data, error",
    [
        ({"file": ("a.exe", b"MZ")}, {}, "not allowed"),
        ({"file": ("notes.txt", b"hi")}, {"category": "audio"}, "not 'audio'"),
        ({"file": ("a.json", b"{}")}, {"purpose": "archive"}, "unknown purpose"),
        ({"file": ("a.json", b"{}")}, {"metadata": "[1]"}, "JSON object"),
        ({"file": ("a.json", b"{}")}, {"metadata": "{nope"}, "JSON object"),
        ({"file": ("a.json", b"{}")}, {"hash": "forged"}, "unknown form field"),
        ({"file": ("a.json", b"{}")}, {"description": "x" * 3000}, "description longer"),
        ({"upload": ("a.json", b"{}")}, {}, "unexpected file part"),
        ({"purpose": (None, "training")}, {}, "missing 'file'"),
        ({"file": ("../../etc/passwd.txt", b"x")}, {}, "bare name"),
        ({"file": ("", b"x")}, {}, "filename"),
    ],
)
def test_bad_uploads_are_400_and_store_nothing(client, s3, settings, files, data, error):
    response = client.post("/api/v1/data/upload", files=files or None, data=data)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False and error in response.json()["error"]
    for purpose in ("training", "ingestion"):
        assert stored_keys(s3, settings.bucket(purpose)) == []


def test_not_multipart_is_400(client):
    response = client.post("/api/v1/data/upload", json={"file": "x"})
    assert response.status_code == 400 and "multipart/form-data" in response.json()["error"]
