"""Download, list, delete, stats and reindex against the real stack."""

import json
import os
import subprocess
import sys
from urllib.parse import quote

import pytest

from tests.conftest import stored_keys
from tests.support import HEADS, raw_http

WAV_HEAD = b"RIFF\x00\x00\x00\x00WAVE"  # the first bytes the upload sniffing wants of a .wav


def put(client, name: str, data: bytes, **fields: str) -> dict:
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 201, response.text
    return response.json()["file"]


def test_download_headers_ranges_and_validators(client):
    data = WAV_HEAD + os.urandom(2988)  # uploads are sniffed: a .wav must start like one
    name = "Sprach Ünïcode; (1).wav"
    file = put(client, name, data, purpose="training")
    url = f"/api/v1/data/files/{file['path']}"
    full = client.get(url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"].startswith("audio/")
    assert full.headers["etag"] == f'"{file["hash"]}"'
    assert full.headers["accept-ranges"] == "bytes"
    disposition = full.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Sprach _n_code; (1).wav"')
    assert "filename*=UTF-8''" + quote(name, safe="") in disposition

    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == "bytes 100-199/3000" and part.headers["content-length"] == "100"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    bad = client.get(url, headers={"Range": "bytes=3000-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == "bytes */3000"
    assert bad.json()["success"] is False
    assert client.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304


def test_empty_file_downloads(client):
    file = put(client, "empty.txt", b"")
    response = client.get(f"/api/v1/data/files/{file['path']}")
    assert response.status_code == 200 and response.content == b""
    assert file["hash"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_list_is_newest_first_filtered_and_paged(client):
    made = [put(client, f"f{i}.txt", b"x" * i, purpose=("training", "ingestion")[i % 2]) for i in range(7)]
    made.append(put(client, "v.wav", WAV_HEAD, purpose="training"))
    listing = client.get("/api/v1/data/files").json()
    assert listing["total"] == 8
    assert [f["path"] for f in listing["files"]] == [f["path"] for f in reversed(made)]
    uploaded = [f["uploaded_at"] for f in listing["files"]]
    assert uploaded == sorted(uploaded, reverse=True)

    training = client.get("/api/v1/data/files", params={"purpose": "training"}).json()
    assert training["total"] == 5 and all(f["purpose"] == "training" for f in training["files"])
    both = client.get("/api/v1/data/files", params={"purpose": "training", "category": "text"}).json()
    assert both["total"] == 4
    audio = client.get("/api/v1/data/files", params={"category": "audio"}).json()
    assert [f["filename"] for f in audio["files"]] == [made[-1]["filename"]]

    pages = [client.get("/api/v1/data/files", params={"limit": 3, "offset": o}).json()["files"] for o in (0, 3, 6)]
    assert [f["path"] for page in pages for f in page] == [f["path"] for f in listing["files"]]
    assert client.get("/api/v1/data/files", params={"offset": 100}).json()["files"] == []


@pytest.mark.parametrize(
    "query",
    ["limit=abc", "limit=0", "limit=-1", "limit=100000", "offset=-1", "offset=x", "purpose=unknown",
     "category=video", "purpose=training/../x"],
)
def test_bad_query_parameters_are_400(client, query):
    response = client.get(f"/api/v1/data/files?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["error"].startswith("invalid request")


def test_metadata_flag_must_be_boolean(client):
    file = put(client, "a.json", b"{}")
    assert client.get(f"/api/v1/data/files/{file['path']}", params={"metadata": "maybe"}).status_code == 400
    assert client.get(f"/api/v1/data/files/{file['path']}", params={"metadata": "false"}).content == b"{}"


def test_delete_removes_everything_and_is_then_404(client, s3, settings):
    keep = put(client, "keep.json", b"[1]")
    gone = put(client, "gone.json", b"[2, 3]")
    url = f"/api/v1/data/files/{gone['path']}"
    assert client.delete(url).json() == {"success": True, "message": "File deleted successfully"}
    assert client.get(url).status_code == 404
    assert client.get(url, params={"metadata": "true"}).json() == {"success": False, "error": f"read data/{gone['filename']}.meta.json: not found"}
    assert client.delete(url).status_code == 404
    assert stored_keys(s3, settings.bucket("ingestion")) == sorted(
        [f"data/{keep['filename']}", f"data/{keep['filename']}.meta.json"])
    listing = client.get("/api/v1/data/files").json()
    assert [f["path"] for f in listing["files"]] == [keep["path"]]
    stats = client.get("/api/v1/data/stats").json()["stats"]
    assert stats["total_files"] == 1 and stats["total_size"] == 3


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "training/../../etc/passwd", "training/audio/..%2F..%2Fx.wav",
     "training/audio/%2e%2e/%2e%2e/x.wav", "training/audio/%252e%252e%252fx.wav", "training/audio/x.wav.meta.json",
     "nope/audio/x.wav", "training/audio", "training/audio/a/b.wav", "training/audio/%00.wav",
     "training/audio/..%5Cx.wav", "training/audio/%C0%AE%C0%AE/x.wav", "/etc/passwd"],
)
def test_traversal_in_paths_is_403(client, api, path):
    """Sent as raw bytes: HTTP clients would normalise the dot segments away before we see them."""
    for method in ("GET", "DELETE"):
        status, body = raw_http(api.url, f"{method} /api/v1/data/files/{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status == 403, (method, path, status, body)
        assert json.loads(body) == {"success": False, "error": "invalid file path"}


def test_missing_file_is_404(client):
    response = client.get("/api/v1/data/files/training/audio/none_20260101_000000_00000000.wav")
    assert response.status_code == 404 and response.json()["success"] is False


def test_stats_follow_uploads(client):
    put(client, "a.json", b"12345", purpose="training")
    put(client, "b.txt", b"123", purpose="training")
    put(client, "c.csv", b"1", purpose="ingestion")
    stats = client.get("/api/v1/data/stats").json()
    assert stats == {"success": True, "stats": {
        "total_files": 3, "total_size": 9,
        "by_purpose": {
            "training": {"count": 2, "size": 8, "by_category": {"data": {"count": 1, "size": 5}, "text": {"count": 1, "size": 3}}},
            "ingestion": {"count": 1, "size": 1, "by_category": {"data": {"count": 1, "size": 1}}},
        },
        "by_category": {"data": {"count": 2, "size": 6}, "text": {"count": 1, "size": 3}},
    }}


def test_reindex_reproduces_list_and_stats_exactly(client, api, redis_client):
    for i in range(12):
        ext = ("json", "txt", "wav", "zip")[i % 4]
        body = {"json": b"[" + b"1," * i + b"0]", "txt": b"t" * i * 10, "wav": WAV_HEAD + os.urandom(i * 10),
                "zip": HEADS["zip"] + os.urandom(i * 10)}[ext]
        put(client, f"r{i}.{ext}", body,
            purpose=("training", "ingestion")[i % 3 == 0], description=f"n{i}")
    client.delete(f"/api/v1/data/files/{client.get('/api/v1/data/files').json()['files'][5]['path']}")
    queries = [{}, {"purpose": "training"}, {"category": "text"}, {"purpose": "ingestion", "category": "data"},
               {"limit": 4, "offset": 3}, {"status": "pending"}, {"status": "pending", "purpose": "training"}]
    before = [client.get("/api/v1/data/files", params=q).json() for q in queries]
    stats_before = client.get("/api/v1/data/stats").json()

    redis_client.flushdb()
    assert client.get("/api/v1/data/files").json()["total"] == 0
    redis_client.set("depot:file:training/data/stale.json", '{"size": 1}')  # the old layout is dropped
    redis_client.hset("depot:ix0:e:1", "00stale.json", "x")  # and so is drift
    out = subprocess.run([sys.executable, "-m", "service", "reindex"], env=api.env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "indexed 11 files"
    assert [client.get("/api/v1/data/files", params=q).json() for q in queries] == before
    assert client.get("/api/v1/data/stats").json() == stats_before
    assert redis_client.get("depot:file:training/data/stale.json") is None
    assert not redis_client.exists("depot:ix0:e:1")
