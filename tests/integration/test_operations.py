"""Health, OpenAPI, metrics, logs, and behaviour when S3 or Redis is unreachable."""

import json
import time

import httpx
import pytest

from service.devstack import free_port
from tests.conftest import open_uploads, stored_keys
from tests.support import HEADS, MIB, multipart_stream, pattern_chunks, start_api


def test_health(client):
    assert client.get("/health/live").json() == {"status": "ok", "checks": {}}
    assert client.get("/health/ready").json() == {"status": "ok", "checks": {"s3": "ok", "redis": "ok"}}


def test_openapi_documents_every_route(client):
    schema = client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/v1/data/upload", "/api/v1/data/files", "/api/v1/data/files/{file_path}",
                 "/api/v1/data/stats", "/health/live", "/health/ready"):
        assert path in paths, path
    operations = [op for item in paths.values() for op in item.values() if isinstance(op, dict)]
    assert all(op.get("operationId") for op in operations)
    assert "413" in paths["/api/v1/data/upload"]["post"]["responses"]


def test_metrics_group_paths_instead_of_object_keys(client):
    for i in range(3):
        path = client.post("/api/v1/data/upload", files={"file": (f"m{i}.json", b"{}")}).json()["file"]["path"]
        client.get(f"/api/v1/data/files/{path}")
    text = client.get("/metrics").text
    assert "depot_requests_total" in text
    assert 'path="/api/v1/data/files/{file_path}"' in text
    assert "m0_" not in text and "m1_" not in text


def test_logs_are_json_lines(client, api):
    client.get("/api/v1/data/files", params={"limit": 7, "offset": 3})  # a query no other test sends
    deadline = time.monotonic() + 10  # the access line is written once the answer has gone out
    while True:
        records = [json.loads(line) for line in api.log().splitlines() if line.startswith("{")]
        mine = [r for r in records if r.get("query") == "limit=7&offset=3"]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    (access,) = mine  # one line per request
    assert access["method"] == "GET" and access["status_code"] == 200 and access["path"] == "/api/v1/data/files"
    assert access["event"] == "request" and access["duration_ms"] >= 0 and access["level"] == "info"


@pytest.fixture
def dead_url() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing listens there


def test_s3_unreachable_is_503_json_and_records_nothing(base_env, tmp_path, dead_url, redis_client, clean):
    server = start_api(base_env, tmp_path, s3_endpoint_url=f"http://{dead_url}")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            ready = http.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "ok"
            assert ready.json()["checks"]["s3"] != "ok"
            for size in (10, 9 * MIB):
                content_type, body = multipart_stream({"purpose": "training"}, "a.json",
                                                              pattern_chunks(size, head=HEADS["json"]))
                response = http.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
                assert response.status_code == 503
                assert response.json()["success"] is False and "storage" in response.json()["error"]
                assert response.headers["retry-after"] == "5"
            assert http.get("/api/v1/data/files").json()["total"] == 0
            got = http.get("/api/v1/data/files/training/data/a_20260101_000000_00000000.json")
            assert got.status_code == 503
        assert redis_client.keys("depot:ix*:e:*") == []
    finally:
        server.stop()


def test_redis_unreachable_is_503_and_leaves_nothing_in_s3(base_env, tmp_path, dead_url, s3, settings, clean):
    server = start_api(base_env, tmp_path, redis_url=f"redis://{dead_url}/0")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert http.get("/health/ready").json()["checks"]["redis"] != "ok"
            response = http.post("/api/v1/data/upload", files={"file": ("a.json", b"{}")})
            assert response.status_code == 503 and "index unavailable" in response.json()["error"]
            for url in ("/api/v1/data/files", "/api/v1/data/stats"):
                assert http.get(url).status_code == 503
                assert http.get(url).json()["success"] is False
        for purpose in ("training", "ingestion"):
            assert stored_keys(s3, settings.bucket(purpose)) == []
            assert open_uploads(s3, settings.bucket(purpose)) == []
    finally:
        server.stop()


def test_unknown_route_and_method_are_json(client):
    assert client.get("/api/v1/nope").json()["success"] is False
    response = client.put("/api/v1/data/upload")
    assert response.status_code == 405 and response.json()["success"] is False
