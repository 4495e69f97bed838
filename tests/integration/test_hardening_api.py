"""Issue 12, API side: parameter pollution, purpose-bound stats, a stalled request body, names with
a trailing newline, HEAD and If-None-Match on files, non-finite numbers in metadata."""

import base64
import hashlib
import io
import json
import socket
import time
import zipfile
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from service.domain.apikeys import entry_for, hash_key, parse_scopes
from service.domain.categories import Purpose
from tests.conftest import open_uploads, stored_keys
from tests.support import HEADS, ApiServer, pattern_chunks, start_api

MIB = 1024 * 1024
KEYS = {
    "admin": ("dpk_admin_" + "a" * 40, "admin", None),
    "trainer": ("dpk_trainer_" + "t" * 40, "read,write,delete", "training"),
}
STALL = 2  # seconds of body silence the dedicated API tolerates (DEPOT_BODY_READ_TIMEOUT)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture(scope="module")
def hard_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    """Auth on, a short body read timeout, and room for more than 1000 parts in one batch."""
    keys = json.dumps(
        [entry_for(n, hash_key(k), parse_scopes(s), Purpose(p) if p else None) for n, (k, s, p) in KEYS.items()]
    )
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("hard-api"),
        api_keys=keys,
        body_read_timeout=str(STALL),
        max_batch_files="2000",
        rate_limit_per_minute="100000",
        rate_limit_burst="10000",
    )
    yield server
    server.stop()


@pytest.fixture
def http(hard_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hard_api.url, timeout=60) as client:
        yield client


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return body["error"]


def put(client: httpx.Client, name: str, data: bytes, key: str | None = None, **fields: str) -> dict:
    response = client.post(
        "/api/v1/data/upload", files={"file": (name, data)}, data=fields, headers=bearer(key) if key else None
    )
    assert response.status_code == 201, response.text
    return response.json()["file"]


def model_zip() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        for name, data in {"config.json": b"{}", "model.safetensors": b"\x01" * 64, "tokenizer.json": b"{}"}.items():
            archive.writestr(name, data)
    return raw.getvalue()


# 1. Parameter pollution -------------------------------------------------------------------------


def test_repeated_purpose_is_400_and_leaks_nothing_to_a_purpose_bound_key(http):
    other = put(http, "secret.txt", b"ingestion only", "admin", purpose="ingestion", description="private")
    put(http, "mine.txt", b"training", "trainer", purpose="training")
    for query in (
        "purpose=training&purpose=ingestion",
        "purpose=ingestion&purpose=training",
        "purpose=training&%70urpose=ingestion",
    ):
        response = http.get(f"/api/v1/data/files?{query}", headers=bearer("trainer"))
        assert "'purpose' given more than once" in error(response, 400)
        assert other["path"] not in response.text and "private" not in response.text
    listed = http.get("/api/v1/data/files?purpose=training", headers=bearer("trainer")).json()["files"]
    assert [f["original_filename"] for f in listed] == ["mine.txt"]
    assert http.head(f"/api/v1/data/files/{other['path']}", headers=bearer("trainer")).status_code == 403
    assert http.head(f"/api/v1/data/files/{other['path']}", headers=bearer("admin")).status_code == 200


def test_two_api_keys_in_one_request_are_refused(http):
    put(http, "secret.txt", b"x", "admin", purpose="ingestion")
    response = http.get(
        "/api/v1/data/files?purpose=ingestion", headers={**bearer("trainer"), "X-API-Key": KEYS["admin"][0]}
    )
    error(response, 401)
    response = http.get(
        "/api/v1/data/files?purpose=ingestion",
        headers=[("Authorization", f"Bearer {KEYS['trainer'][0]}"), ("Authorization", f"Bearer {KEYS['admin'][0]}")],
    )
    error(response, 401)


SAMPLE_PATH_PARAMS = {
    "file_path": "training/text/a_20260101_000000_abcdef12.txt",
    "task_id": "0" * 32,
    "model_id": "local/m@main",
}


def operations(schema: dict) -> Iterator[tuple[str, str, str]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "head", "post", "put", "delete", "patch"):
                continue
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            url = path
            for name, value in SAMPLE_PATH_PARAMS.items():
                url = url.replace("{" + name + "}", value)
            yield method.upper(), url, query[0] if query else "unknown"


def test_every_route_refuses_a_repeated_query_parameter(client):
    schema = client.get("/schema/openapi.json").json()
    seen = 0
    for method, url, name in operations(schema):
        response = client.request(method, f"{url}?{name}=a&{name}=b")
        assert response.status_code == 400, (method, url, response.status_code, response.text)
        if method != "HEAD":
            assert name in response.json()["error"], (method, url)
        seen += 1
    assert seen >= 15
    assert client.get("/api/v1/data/files?limit=5&offset=0&purpose=training").status_code == 200


# 2. Stats of a purpose-bound key --------------------------------------------------------------


def test_stats_show_a_purpose_bound_key_only_its_purpose(http):
    put(http, "t.txt", b"12345", "admin", purpose="training")
    put(http, "i.csv", b"a,b\n1,2\n", "admin", purpose="ingestion")
    everything = http.get("/api/v1/data/stats", headers=bearer("admin")).json()["stats"]
    assert everything["total_files"] == 2 and everything["by_purpose"]["ingestion"]["count"] == 1
    mine = http.get("/api/v1/data/stats", headers=bearer("trainer")).json()["stats"]
    assert mine == {
        "total_files": 1,
        "total_size": 5,
        "by_purpose": {
            "training": {"count": 1, "size": 5, "by_category": {"text": {"count": 1, "size": 5}}},
            "ingestion": {"count": 0, "size": 0, "by_category": {}},
        },
        "by_category": {"text": {"count": 1, "size": 5}},
    }


# 3. A stalled request body ---------------------------------------------------------------------


def raw_request(url: str, head: str, body_chunks: Iterable[bytes] = ()) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    sock.sendall(head.encode())
    for chunk in body_chunks:
        sock.sendall(chunk)
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """The whole answer up to the server closing the connection (a timeout here fails the test)."""
    received = b""
    with sock:
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


def upload_head(path: str, length: int, key: str = "admin", boundary: str = "stall") -> str:
    kind = "application/json" if path.endswith("/huggingface") else f"multipart/form-data; boundary={boundary}"
    return (
        f"POST {path} HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {KEYS[key][0]}\r\n"
        f"Content-Type: {kind}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )


def file_part(name: str, boundary: str = "stall") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def assert_cut(sock: socket.socket) -> None:
    status, headers, body = read_answer(sock)
    assert status == 408 and headers.get("connection") == "close"
    assert body["success"] is False and "stalled" in body["error"]


@pytest.mark.parametrize("path", ["/api/v1/data/upload", "/v1/upload/local", "/v1/upload/huggingface"])
def test_a_body_that_never_comes_is_cut_with_408(http, hard_api, path, s3, settings):
    assert_cut(raw_request(hard_api.url, upload_head(path, 100_000)))
    for bucket in ("training", "ingestion", "models"):
        assert stored_keys(s3, settings.bucket(bucket)) == []
    assert http.get("/health/ready").status_code == 200


def wait_for_open_upload(s3, bucket: str) -> None:
    deadline = time.monotonic() + 30
    while not open_uploads(s3, bucket):
        assert time.monotonic() < deadline, "the multipart upload never started"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "path,bucket,name,head",
    [
        ("/api/v1/data/upload", "ingestion", "big.zip", HEADS["zip"]),
        ("/v1/upload/local", "models", "models.zip", HEADS["zip"]),
    ],
)
def test_a_body_stalled_mid_file_aborts_the_multipart_upload(
    http, hard_api, path, bucket, name, head, s3, settings, redis_client
):
    sent = 7 * MIB  # more than one part (6 MiB): a multipart upload is open in S3 when the body stalls
    sock = raw_request(
        hard_api.url, upload_head(path, 20 * MIB), iter([file_part(name), *pattern_chunks(sent, head=head)])
    )
    wait_for_open_upload(s3, settings.bucket(bucket))
    assert_cut(sock)
    assert open_uploads(s3, settings.bucket(bucket)) == []
    assert stored_keys(s3, settings.bucket(bucket)) == []
    assert [k for k in redis_client.keys("*") if ":e:" in k or "claim" in k] == []


def test_a_stalled_tus_patch_is_cut_and_keeps_what_arrived(http, hard_api, s3, settings):
    """tus PATCH bodies go through the same read timeout; the bytes that came are kept for the resume."""
    data = b"".join(pattern_chunks(3 * MIB, head=HEADS["csv"]))
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": "stalled.csv", "purpose": "training"}.items()
    )
    tus = {"Tus-Resumable": "1.0.0", **bearer("admin")}
    created = http.post("/api/v1/data/tus", headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": meta})
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: depot\r\nAuthorization: Bearer {KEYS['admin'][0]}\r\n"
        f"Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    status, headers, body = read_answer(raw_request(hard_api.url, head, [data[:MIB]]))
    assert status == 408 and headers.get("connection") == "close" and headers.get("tus-resumable") == "1.0.0"
    assert body["success"] is False and "stalled" in body["error"]
    assert http.head(location, headers=tus).headers["upload-offset"] == str(MIB)
    done = http.patch(
        location,
        content=data[MIB:],
        headers={**tus, "Upload-Offset": str(MIB), "Content-Type": "application/offset+octet-stream"},
    )
    assert done.status_code == 204, done.text
    stored = http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}", headers=bearer("admin"))
    assert stored.content == data
    assert open_uploads(s3, settings.bucket("training")) == []


def test_a_slow_but_steady_body_is_not_cut(http, hard_api):
    """The timeout is per chunk: a body that keeps coming is read whatever its total time."""
    payload = [b"line one\n", b"line two\n", b"line three\n", b"line four\n"]
    tail = b"\r\n--stall--\r\n"
    length = len(file_part("slow.txt")) + sum(map(len, payload)) + len(tail)
    sock = raw_request(hard_api.url, upload_head("/api/v1/data/upload", length), iter([file_part("slow.txt")]))
    with sock:
        for chunk in payload:
            time.sleep(STALL * 0.4)  # together longer than the timeout, each well under it
            sock.sendall(chunk)
        sock.sendall(tail)
        status, _, body = read_answer(sock)
    assert status == 201, body
    assert http.get(f"/api/v1/data/files/{body['file']['path']}", headers=bearer("admin")).content == b"".join(payload)


def test_a_download_outlives_the_body_timeout(http, hard_api):
    """Once the request body is complete nothing is timed: a paused download still finishes."""
    data = b"".join(pattern_chunks(20 * MIB, head=HEADS["zip"]))
    file = put(http, "large.zip", data, "admin", purpose="training")
    with http.stream("GET", f"/api/v1/data/files/{file['path']}", headers=bearer("admin")) as response:
        chunks = response.iter_bytes()
        received = next(chunks)
        time.sleep(STALL * 1.5)
        received += b"".join(chunks)
    assert received == data


def test_the_1001st_part_hits_the_part_limit(http, hard_api, s3, settings):
    """With 2000 files allowed per batch, only the multipart part limit (1000) stops the request."""
    parts = b"".join(file_part(f"refused{i}.exe", "many") + b"x\r\n" for i in range(1001)) + b"--many--\r\n"
    response = http.post(
        "/api/v1/data/upload",
        content=parts,
        headers={**bearer("admin"), "Content-Type": "multipart/form-data; boundary=many"},
    )
    assert "more than 1000 parts" in error(response, 400)
    assert stored_keys(s3, settings.bucket("ingestion")) == []


# 8. Names with a trailing newline --------------------------------------------------------------


@pytest.mark.parametrize(
    "route,body",
    [
        ("/v1/upload/huggingface", {"model_tag": "acme/tiny-bert\n"}),
        ("/v1/upload/huggingface", {"model_tag": "acme/tiny-bert", "revision": "main\n"}),
        ("/v1/upload/github", {"owner": "acme\n", "repo_name": "tiny"}),
        ("/v1/upload/github", {"owner": "acme", "repo_name": "tiny\n"}),
        ("/v1/upload/github", {"owner": "acme", "repo_name": "tiny", "revision": "v1\n"}),
    ],
)
def test_import_names_with_a_trailing_newline_are_400(client, route, body, redis_client):
    assert "invalid" in error(client.post(route, json=body), 400)
    assert redis_client.keys("*task*") == []


@pytest.mark.parametrize("params", [{"model_name": "m\n"}, {"revision": "main\n"}, {"model_name": "m\r"}])
def test_zip_model_name_or_revision_with_a_newline_is_400(client, params, s3, settings):
    response = client.post("/v1/upload/local", params=params, files={"file": ("m.zip", model_zip(), "application/zip")})
    assert "invalid" in error(response, 400)
    assert stored_keys(s3, settings.bucket("models")) == []


def test_paths_and_ids_with_a_trailing_newline_are_refused(client):
    file = put(client, "a.txt", b"x", purpose="training")
    assert client.get(f"/api/v1/data/files/{file['path']}").status_code == 200
    error(client.get(f"/api/v1/data/files/{file['path']}%0A"), 403)
    error(client.delete(f"/api/v1/data/files/{file['path']}%0A"), 403)
    assert client.get(f"/api/v1/data/files/{file['path']}").status_code == 200
    assert "invalid event id" in error(client.get("/api/v1/events", params={"after": "1-0\n"}), 400)
    assert "invalid event id" in error(client.get("/api/v1/events", params={"after": "\u0661-0"}), 400)


# 12. HEAD and If-None-Match --------------------------------------------------------------------


def test_head_answers_like_get_without_the_body(client):
    file = put(client, "Ünï report.csv", b"a,b\n1,2\n", purpose="training")
    url = f"/api/v1/data/files/{file['path']}"
    got, headed = client.get(url), client.head(url)
    assert headed.status_code == 200 and headed.content == b""
    for name in (
        "content-length",
        "etag",
        "accept-ranges",
        "content-disposition",
        "content-type",
        "x-checksum-sha256",
        "repr-digest",
    ):
        assert headed.headers[name] == got.headers[name], name
    digest = base64.b64encode(hashlib.sha256(b"a,b\n1,2\n").digest()).decode()
    assert headed.headers["repr-digest"] == f"sha-256=:{digest}:"  # RFC 9530, on HEAD as on GET
    assert headed.headers["content-length"] == "8"
    ranged = client.head(url, headers={"Range": "bytes=0-1"})  # Range is defined for GET only
    assert ranged.status_code == 200 and ranged.headers["content-length"] == "8"
    meta_get, meta_head = client.get(url, params={"metadata": "true"}), client.head(url, params={"metadata": "true"})
    assert meta_head.status_code == 200 and meta_head.content == b""
    assert meta_head.headers["content-length"] == str(len(meta_get.content))
    assert meta_head.headers["content-type"] == meta_get.headers["content-type"]
    empty = put(client, "empty.txt", b"", purpose="training")
    assert client.head(f"/api/v1/data/files/{empty['path']}").headers["content-length"] == "0"
    assert client.head(url[:-8] + "nope.csv").status_code == 404
    assert client.head("/api/v1/data/files/training/text/..").status_code == 403


def test_head_is_in_the_openapi_document(client):
    operation = client.get("/schema/openapi.json").json()["paths"]["/api/v1/data/files/{file_path}"]["head"]
    assert operation["operationId"] == "headFile" and "304" in operation["responses"]


@pytest.mark.parametrize(
    "header,status",
    [
        ('W/"{h}"', 304),
        ('"{h}"', 304),
        ('"other", "{h}"', 304),
        ('"other",W/"{h}"', 304),
        ("*", 304),
        (', "{h}",,', 304),
        ('"other"', 200),
        ('"a,b", "c"', 200),
        ("{h}", 200),
        ('"{h}" junk', 200),
        ('W/"{h}x"', 200),
    ],
)
def test_if_none_match_weak_lists_and_star(client, header, status):
    file = put(client, "v.txt", b"version one", purpose="training")
    url = f"/api/v1/data/files/{file['path']}"
    value = header.replace("{h}", file["hash"])
    for method in ("GET", "HEAD"):
        response = client.request(method, url, headers={"If-None-Match": value})
        assert response.status_code == status, (method, value)
        if status == 304:
            assert response.content == b"" and response.headers["etag"] == f'"{file["hash"]}"'
    assert client.get(url, headers={"If-None-Match": value}).content == (b"" if status == 304 else b"version one")


def test_if_none_match_over_several_header_lines_is_one_list(client):
    file = put(client, "v.txt", b"version one", purpose="training")
    lines = [("If-None-Match", '"other"'), ("If-None-Match", f'W/"{file["hash"]}"')]
    assert client.get(f"/api/v1/data/files/{file['path']}", headers=lines).status_code == 304


# 13. Non-finite numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata", ['{"a": NaN}', '{"b": Infinity}', '{"b": -Infinity}', '{"c": 1e999}', '{"d": {"e": [1, -1e400]}}']
)
def test_non_finite_metadata_is_400_and_nothing_is_stored(client, metadata, s3, settings):
    response = client.post(
        "/api/v1/data/upload", files={"file": ("a.txt", b"x")}, data={"purpose": "training", "metadata": metadata}
    )
    assert "finite" in error(response, 400)
    batch = client.post(
        "/api/v1/data/upload",
        files=[("file", ("a.txt", b"x")), ("file", ("b.txt", b"y"))],
        data={"purpose": "training", "metadata": metadata},
    )
    assert "finite" in error(batch, 400)
    assert stored_keys(s3, settings.bucket("training")) == []
    assert put(client, "ok.txt", b"x", purpose="training", metadata='{"big": 1e300, "n": -0.5}')["metadata"] == {
        "big": 1e300,
        "n": -0.5,
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"model_tag": "a/b", "revision": NaN}',
        b'{"model_tag": 1e999}',
        b'{"model_tag": "a/b", "extra": Infinity}',
        b'{"owner": -Infinity, "repo_name": "r"}',
    ],
)
def test_import_bodies_with_non_finite_numbers_are_400(client, body, redis_client):
    """Litestar decodes JSON bodies with msgspec, which is strict JSON: held here so it stays a 400."""
    route = "/v1/upload/github" if b"owner" in body else "/v1/upload/huggingface"
    error(client.post(route, content=body, headers={"Content-Type": "application/json"}), 400)
    assert redis_client.keys("*task*") == []
