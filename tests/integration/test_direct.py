"""Direct transfers (presigned S3 URLs) against a real API, SeaweedFS, Redis and worker: a
multi-part upload verified and committed like POST /upload, a wrong declared hash, redirect
downloads, the feature off by default, ownership across keys, limits and bad input."""

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import open_uploads, stored_keys
from tests.integration.test_auth import bearer, keys_config
from tests.integration.test_fuzz import schemathesis
from tests.support import HEADS, MIB, ApiServer, pattern_chunks, run_worker_burst, start_api

DIRECT = "/api/v1/data/direct"
MAX = 24 * MIB
WRITER = bearer("writer")


@pytest.fixture(scope="module")
def direct_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("direct-api"),
        ready_path="/health/ready",
        direct_transfers="true",
        direct_part_size=str(5 * MIB),
        api_keys=keys_config(),
        rate_limit_per_minute="100000",
        rate_limit_burst="10000",
    )
    yield server
    server.stop()


@pytest.fixture
def http(direct_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=direct_api.url, timeout=120, headers=WRITER) as client:
        yield client


def csv_bytes(size: int) -> bytes:
    return b"".join(pattern_chunks(size, head=HEADS["csv"]))


def declare(http: httpx.Client, data: bytes, name: str = "data.csv", headers: dict | None = None, **fields):
    body = {
        "filename": name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "purpose": "training",
        **fields,
    }
    return http.post(DIRECT, json=body, headers=headers)


def put_parts(http: httpx.Client, upload: dict, data: bytes) -> list[dict]:
    """Ask for URLs two at a time (as a client does while it goes) and PUT each part to S3."""
    numbers = list(range(1, upload["parts"] + 1))
    done = []
    for batch in (numbers[i : i + 2] for i in range(0, len(numbers), 2)):
        answer = http.post(f"{DIRECT}/{upload['id']}/parts", json={"numbers": batch})
        assert answer.status_code == 200, answer.text
        for part in answer.json()["urls"]:
            start = (part["number"] - 1) * upload["part_size"]
            chunk = data[start : start + part["size"]]
            assert len(chunk) == part["size"]
            put = httpx.put(part["url"], content=chunk)  # straight to S3, no Depot key
            assert put.status_code == 200, put.text
            done.append({"number": part["number"], "etag": put.headers["etag"]})
    return done


def upload(http: httpx.Client, data: bytes, **fields) -> dict:
    """Declare, send and complete; returns the 202 answer (state verifying)."""
    created = declare(http, data, **fields)
    assert created.status_code == 201, created.text
    parts = put_parts(http, created.json(), data)
    done = http.post(f"{DIRECT}/{created.json()['id']}/complete", json={"parts": parts})
    assert done.status_code == 202, done.text
    assert done.headers["location"] == f"{DIRECT}/{created.json()['id']}"
    return done.json()


def assert_error(response: httpx.Response, status: int, text: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and text in body["error"]


def listed(http: httpx.Client) -> list[dict]:
    return http.get("/api/v1/data/files").json()["files"]


def test_multipart_upload_is_verified_then_listed(http, direct_api, s3, settings):
    data = csv_bytes(11 * MIB)  # three parts: 5 + 5 + 1 MiB
    answer = upload(http, data, description="lab run", metadata={"source": "lab"})
    assert answer["state"] == "verifying" and answer["parts"] == 3
    assert listed(http) == []  # invisible until the worker verified it
    assert http.get("/api/v1/data/stats").json()["stats"]["total_files"] == 0
    result = run_worker_burst(direct_api.env)
    assert result.returncode == 0, result.stderr
    status = http.get(f"{DIRECT}/{answer['id']}").json()
    assert status["state"] == "stored", status
    stored = status["file"]
    assert stored["hash"] == hashlib.sha256(data).hexdigest() and stored["size"] == len(data)
    assert stored["metadata"] == {"source": "lab"} and stored["description"] == "lab run"
    assert [f["path"] for f in listed(http)] == [stored["path"]]
    assert http.get(f"/api/v1/data/files/{stored['path']}").content == data
    tags = s3.get_object_tagging(Bucket=settings.bucket("training"), Key=stored["path"].split("/", 1)[1])
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]}["sha256"] == stored["hash"]
    assert open_uploads(s3, settings.bucket("training")) == []


def test_wrong_declared_hash_fails_and_removes_the_object(http, direct_api, s3, settings):
    data = csv_bytes(6 * MIB)
    created = http.post(
        DIRECT, json={"filename": "data.csv", "size": len(data), "sha256": "0" * 64, "purpose": "training"}
    )
    assert created.status_code == 201, created.text
    parts = put_parts(http, created.json(), data)
    assert http.post(f"{DIRECT}/{created.json()['id']}/complete", json={"parts": parts}).status_code == 202
    assert run_worker_burst(direct_api.env).returncode == 0
    status = http.get(f"{DIRECT}/{created.json()['id']}").json()
    assert status["state"] == "failed" and "SHA-256" in status["error"] and status["file"] is None
    assert stored_keys(s3, settings.bucket("training")) == []
    assert listed(http) == []


def test_sha256_may_be_declared_at_completion(http, direct_api):
    data = csv_bytes(6 * MIB)
    body = {"filename": "late.csv", "size": len(data), "purpose": "training"}
    created = http.post(DIRECT, json=body).json()
    assert created["sha256"] is None
    parts = put_parts(http, created, data)
    complete = f"{DIRECT}/{created['id']}/complete"
    assert_error(http.post(complete, json={"parts": parts}), 400, "sha256")
    assert http.post(complete, json={"parts": parts, "sha256": hashlib.sha256(data).hexdigest()}).status_code == 202
    assert run_worker_burst(direct_api.env).returncode == 0
    status = http.get(f"{DIRECT}/{created['id']}").json()
    assert status["state"] == "stored" and status["file"]["hash"] == hashlib.sha256(data).hexdigest()
    early = declare(http, data).json()
    other = {"parts": put_parts(http, early, data), "sha256": "b" * 64}
    assert_error(http.post(f"{DIRECT}/{early['id']}/complete", json=other), 400, "differs")


def test_content_not_of_its_type_fails_like_post_upload(http, direct_api, s3, settings):
    data = b"\x00\x01binary" * 1000
    answer = upload(http, data, name="table.csv")
    assert run_worker_burst(direct_api.env).returncode == 0
    status = http.get(f"{DIRECT}/{answer['id']}").json()
    assert status["state"] == "failed" and status["error"]
    assert stored_keys(s3, settings.bucket("training")) == []


def test_redirect_download_keeps_name_and_type(http, direct_api):
    data = csv_bytes(200_000)
    name = "données été.csv"
    files = {"file": (name, data, "text/csv")}
    stored = http.post("/api/v1/data/upload", files=files, data={"purpose": "training"}).json()["file"]
    answer = http.get(f"/api/v1/data/files/{stored['path']}", params={"redirect": "true"})
    assert answer.status_code == 307, answer.text
    location = answer.headers["location"]
    assert "X-Amz-Signature=" in location and "cache-control" in answer.headers
    fetched = httpx.get(location)  # no Depot key: the URL itself is the permission
    assert fetched.status_code == 200 and fetched.content == data
    assert "filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.csv" in fetched.headers["content-disposition"]
    assert fetched.headers["content-type"].startswith("text/csv")
    plain = http.get(f"/api/v1/data/files/{stored['path']}")
    assert plain.status_code == 200 and plain.content == data  # the contract's download is unchanged
    assert_error(httpx.get(f"{direct_api.url}/api/v1/data/files/{stored['path']}?redirect=true"), 401)
    http.delete(f"/api/v1/data/files/{stored['path']}", headers=bearer("admin"))
    assert_error(http.get(f"/api/v1/data/files/{stored['path']}", params={"redirect": "true"}), 404)


def test_disabled_by_default(client):
    assert client.get(DIRECT).json()["enabled"] is False
    data = csv_bytes(1000)
    assert_error(declare(client, data), 400, "direct transfers are disabled")
    assert_error(client.get(f"{DIRECT}/{'a' * 32}"), 400, "direct transfers are disabled")
    stored = client.post("/api/v1/data/upload", files={"file": ("a.csv", data)}, data={"purpose": "training"})
    path = stored.json()["file"]["path"]
    assert_error(client.get(f"/api/v1/data/files/{path}?redirect=true"), 400, "direct transfers are disabled")


def test_another_key_gets_404(http):
    created = declare(http, csv_bytes(1000)).json()
    other = bearer("admin")
    assert_error(http.get(f"{DIRECT}/{created['id']}", headers=other), 404)
    assert_error(http.post(f"{DIRECT}/{created['id']}/parts", json={"numbers": [1]}, headers=other), 404)
    assert_error(http.delete(f"{DIRECT}/{created['id']}", headers=other), 404)
    assert http.get(f"{DIRECT}/{created['id']}").json()["state"] == "uploading"
    assert_error(http.post(DIRECT, json={}, headers=bearer("reader")), 403)


def test_size_over_the_limit_is_413(http, redis_client):
    body = {"filename": "a.csv", "size": MAX + 1, "sha256": "a" * 64, "purpose": "training"}
    assert_error(http.post(DIRECT, json=body), 413)
    assert redis_client.keys("depot:direct:*") == []


@pytest.mark.parametrize(
    "change",
    [
        {"filename": "evil.exe"},
        {"filename": "../../etc/passwd.csv"},
        {"purpose": "nope"},
        {"category": "video"},
        {"metadata": "[1, 2]"},
        {"sha256": "xyz"},
        {"size": 0},
        {"colour": "red"},
    ],
    ids=["type", "traversal", "purpose", "category", "metadata", "sha256", "size", "unknown-field"],
)
def test_bad_declarations_are_400(http, redis_client, s3, settings, change):
    body = {"filename": "a.csv", "size": 10, "sha256": "a" * 64, "purpose": "training", **change}
    assert_error(http.post(DIRECT, json=body), 400)
    assert redis_client.keys("depot:direct:*") == []
    assert open_uploads(s3, settings.bucket("training")) == []


def test_purpose_bound_key_may_not_declare_another_purpose(http):
    answer = declare(http, csv_bytes(1000), headers=bearer("trainer"), purpose="ingestion")
    assert_error(answer, 403)


def test_part_numbers_and_part_lists_are_checked(http):
    data = csv_bytes(6 * MIB)
    created = declare(http, data).json()
    parts = f"{DIRECT}/{created['id']}/parts"
    signed = http.post(parts, json={"numbers": [2]}).json()["urls"][0]
    assert signed["size"] == MIB and "X-Amz-SignedHeaders=content-length%3Bhost" in signed["url"]
    assert_error(http.post(parts, json={"numbers": [3]}), 400, "out of range")
    assert_error(http.post(parts, json={"numbers": [0]}), 400, "out of range")
    assert_error(http.post(parts, json={"numbers": list(range(1, 102))}), 400)
    assert_error(http.post(parts, json={"numbers": []}), 400)
    complete = f"{DIRECT}/{created['id']}/complete"
    assert_error(http.post(complete, json={"parts": [{"number": 1, "etag": "x"}]}), 400)
    assert_error(http.post(complete, json={"parts": [{"number": 1, "etag": "x"}, {"number": 1, "etag": "x"}]}), 400)
    wrong = [{"number": 1, "etag": '"0"'}, {"number": 2, "etag": '"0"'}]
    assert_error(http.post(complete, json={"parts": wrong}), 400)  # S3 refuses: still uploading
    assert http.get(f"{DIRECT}/{created['id']}").json()["state"] == "uploading"
    done = http.post(complete, json={"parts": put_parts(http, created, data)})
    assert done.status_code == 202, done.text
    assert_error(http.post(complete, json={"parts": wrong}), 409)
    assert_error(http.post(parts, json={"numbers": [1]}), 409)


def test_fewer_bytes_than_declared_fail_at_completion(http, s3, settings):
    data = csv_bytes(6 * MIB)
    created = declare(http, data + b"more").json()
    assert created["parts"] == 2
    urls = http.post(f"{DIRECT}/{created['id']}/parts", json={"numbers": [1, 2]}).json()["urls"]
    etags = [
        {"number": 1, "etag": httpx.put(urls[0]["url"], content=data[: 5 * MIB]).headers["etag"]},
        {"number": 2, "etag": httpx.put(urls[1]["url"], content=data[5 * MIB :]).headers["etag"]},
    ]
    answer = http.post(f"{DIRECT}/{created['id']}/complete", json={"parts": etags})
    assert_error(answer, 400, "declared")
    assert http.get(f"{DIRECT}/{created['id']}").json()["state"] == "failed"
    assert stored_keys(s3, settings.bucket("training")) == []


def test_delete_aborts_and_races_verification(http, direct_api, s3, settings, redis_client):
    data = csv_bytes(6 * MIB)
    created = declare(http, data).json()
    assert http.delete(f"{DIRECT}/{created['id']}").status_code == 204
    assert open_uploads(s3, settings.bucket("training")) == []
    assert_error(http.get(f"{DIRECT}/{created['id']}"), 404)
    answer = upload(http, data)  # completed, not yet verified: a DELETE now wins over the worker
    assert http.delete(f"{DIRECT}/{answer['id']}").status_code == 204
    assert run_worker_burst(direct_api.env).returncode == 0
    assert stored_keys(s3, settings.bucket("training")) == []
    assert listed(http) == []


def test_expired_uploads_are_cleaned_by_the_worker(http, direct_api, s3, settings, redis_client):
    created = declare(http, csv_bytes(6 * MIB)).json()
    assert open_uploads(s3, settings.bucket("training")) != []
    redis_client.zadd("depot:direct:expiry", {created["id"]: 1})
    redis_client.hset(f"depot:direct:{created['id']}", "expires", "1")
    assert_error(http.get(f"{DIRECT}/{created['id']}"), 404)
    assert run_worker_burst(direct_api.env).returncode == 0
    assert open_uploads(s3, settings.bucket("training")) == []
    assert not redis_client.exists(f"depot:direct:{created['id']}")


def test_routes_are_in_the_openapi_schema(http):
    schema = http.get("/schema/openapi.json").json()
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths[DIRECT])
    assert "post" in paths[DIRECT + "/{upload_id}/parts"] and "post" in paths[DIRECT + "/{upload_id}/complete"]
    assert "307" in paths["/api/v1/data/files/{file_path}"]["get"]["responses"]
    assert paths[DIRECT]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DirectCreate"
    )
    assert {"filename", "size"} <= set(schema["components"]["schemas"]["DirectCreate"]["required"])
    assert "sha256" in schema["components"]["schemas"]["DirectCreate"]["properties"]
    assert "DirectStatus" in json.dumps(paths[DIRECT + "/{upload_id}"]["get"]["responses"]["200"])


def test_schemathesis_on_the_direct_routes_with_them_on(direct_api, clean, tmp_path):
    """The fuzzing run of test_fuzz.py, on the direct routes and the download, with direct transfers on."""
    schemathesis(
        direct_api.url,
        tmp_path,
        "--include-path-regex",
        "^/api/v1/data/(direct|files/)",
        "--header",
        f"Authorization: {WRITER['Authorization']}",
    )
