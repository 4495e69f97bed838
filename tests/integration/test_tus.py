"""Resumable uploads (tus 1.0.0) against a real API, SeaweedFS and Redis: the protocol
extension by extension, PATCH sizes around S3's 5 MiB part minimum, hostile headers,
Repr-Digest, concurrent writers, ownership across keys, a killed API process, expiry
cleanup by the worker, and tuspy (a client we did not write)."""

import base64
import email.utils
import hashlib
import io
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import open_uploads, stored_keys
from tests.integration.test_auth import bearer, keys_config
from tests.support import HEADS, MIB, ApiServer, pattern_chunks, run_worker_burst, start_api

TUS = "/api/v1/data/tus"
V = {"Tus-Resumable": "1.0.0"}
OCTETS = {**V, "Content-Type": "application/offset+octet-stream"}
MAX = 64 * MIB


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def metadata(**fields: str) -> str:
    return ",".join(f"{k} {b64(v)}" for k, v in fields.items())


def csv_bytes(size: int) -> bytes:
    """Content that passes the .csv content check (text head, then any bytes)."""
    return b"".join(pattern_chunks(size, head=HEADS["csv"]))


def create(
    http: httpx.Client,
    length: int | None,
    headers: dict | None = None,
    name: str = "data.csv",
    purpose: str = "training",
    **meta: str,
) -> httpx.Response:
    sizes = {"Upload-Length": str(length)} if length is not None else {"Upload-Defer-Length": "1"}
    fields = {"filename": name, "purpose": purpose, **meta}
    return http.post(TUS, headers={**V, **sizes, "Upload-Metadata": metadata(**fields), **(headers or {})})


def send(http: httpx.Client, location: str, offset: int, data: bytes, headers: dict | None = None) -> httpx.Response:
    return http.patch(location, content=data, headers={**OCTETS, "Upload-Offset": str(offset), **(headers or {})})


def upload_all(http: httpx.Client, data: bytes, sizes: list[int], **meta: str) -> httpx.Response:
    """Create an upload and PATCH ``data`` in chunks of ``sizes``; returns the last PATCH's answer."""
    created = create(http, len(data), **meta)
    assert created.status_code == 201, created.text
    location, offset, answer = created.headers["location"], 0, created
    for size in sizes:
        answer = send(http, location, offset, data[offset : offset + size])
        assert answer.status_code == 204, answer.text
        offset += size
        assert int(answer.headers["upload-offset"]) == offset
    assert offset == len(data)
    answer.headers["location"] = location
    return answer


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    if response.request.method == "HEAD":
        return  # no body
    body = response.json()
    assert body["success"] is False and body["error"]


def tus_state(redis_client) -> list[str]:
    return sorted(k for k in redis_client.keys("*tus*"))


@pytest.fixture(scope="module")
def tus_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(
        base_env, tmp_path_factory.mktemp("tus-api"), ready_path="/health/ready", max_upload_size=str(MAX)
    )
    yield server
    server.stop()


@pytest.fixture
def http(tus_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tus_api.url, timeout=120) as client:
        yield client


# --- core protocol -------------------------------------------------------------------------------


def test_options_announce_the_server(http):
    answer = http.options(TUS)
    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    assert answer.headers["tus-max-size"] == str(MAX)
    assert set(answer.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "expiration",
        "termination",
        "checksum",
    }
    assert set(answer.headers["tus-checksum-algorithm"].split(",")) == {"sha256", "sha1", "md5"}


@pytest.mark.slow
def test_patch_sizes_around_the_part_minimum(http, s3, settings, redis_client):
    """1 B, 5 MiB - 1, 5 MiB, 17 MiB, 1 B: parts and tails of every shape end in one exact file."""
    sizes = [1, 5 * MIB - 1, 5 * MIB, 17 * MIB, 1]
    data = csv_bytes(sum(sizes))
    answer = upload_all(http, data, sizes, description="sizes", metadata='{"run": 1}')
    path = answer.headers["depot-file-path"]
    assert path.startswith("training/data/data_") and path.endswith(".csv")
    stored = http.get(f"/api/v1/data/files/{path}")
    assert stored.status_code == 200 and stored.content == data
    assert stored.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
    assert stored.headers["repr-digest"] == f"sha-256=:{b64(hashlib.sha256(data).digest())}:"
    result = http.get(answer.headers["location"])  # the upload endpoint's answer for the stored file
    assert result.status_code == 200
    body = result.json()
    assert body["success"] is True and body["file"]["path"] == path and body["file"]["size"] == len(data)
    assert body["file"]["hash"] == hashlib.sha256(data).hexdigest() and body["file"]["metadata"] == {"run": 1}
    assert body["file"]["description"] == "sizes" and body["file"]["original_filename"] == "data.csv"
    listed = http.get("/api/v1/data/files", params={"purpose": "training"}).json()
    assert [f["path"] for f in listed["files"]] == [path]
    assert open_uploads(s3, settings.bucket("training")) == []
    assert f"data/{path.rsplit('/', 1)[1]}.meta.json" in stored_keys(s3, settings.bucket("training"))
    head = http.head(answer.headers["location"], headers=V)
    assert head.headers["upload-offset"] == str(len(data)) and head.headers["depot-file-path"] == path


def test_small_file_in_one_patch_is_one_object(http, s3, settings):
    data = b"a,b\n1,2\n"
    answer = upload_all(http, data, [len(data)], purpose="ingestion")
    path = answer.headers["depot-file-path"]
    assert path.startswith("ingestion/data/")
    assert http.get(f"/api/v1/data/files/{path}").content == data
    assert open_uploads(s3, settings.bucket("ingestion")) == []


def test_head_reports_offset_length_and_expiry(http):
    location = create(http, 10).headers["location"]
    head = http.head(location, headers=V)
    assert head.status_code == 200
    assert head.headers["upload-offset"] == "0" and head.headers["upload-length"] == "10"
    assert head.headers["cache-control"] == "no-store" and head.headers["upload-expires"].endswith("GMT")
    assert send(http, location, 0, b"a,b\n").status_code == 204
    assert http.head(location, headers=V).headers["upload-offset"] == "4"


def test_wrong_offset_type_and_version(http):
    location = create(http, 10).headers["location"]
    assert_error(send(http, location, 3, b"a,b\n"), 409)
    assert_error(
        http.patch(location, content=b"a", headers={**V, "Upload-Offset": "0", "Content-Type": "text/plain"}), 415
    )
    old = http.patch(
        location,
        content=b"a",
        headers={"Upload-Offset": "0", "Tus-Resumable": "0.2.2", "Content-Type": "application/offset+octet-stream"},
    )
    assert_error(old, 412)
    assert old.headers["tus-version"] == "1.0.0" and old.headers["tus-resumable"] == "1.0.0"
    assert_error(http.head(location.replace(location[-4:], "0000"), headers=V), 404)
    assert_error(send(http, TUS + "/not-an-id", 0, b"a"), 404)
    assert_error(send(http, location, 0, b"a,b\n1,2\n3,4\n"), 413)  # past Upload-Length
    assert http.head(location, headers=V).headers["upload-offset"] == "0"


def test_a_cut_connection_keeps_the_bytes_that_arrived(http, tus_api):
    data = csv_bytes(3 * MIB)
    location = create(http, len(data)).headers["location"]
    path = location.encode()
    head = (
        b"PATCH " + path + b" HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        b"Content-Type: application/offset+octet-stream\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection((tus_api.url.split(":")[1][2:], int(tus_api.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(head + data[:MIB])
    offset = 0
    for _ in range(400):  # the server notices the cut and saves what arrived
        offset = int(http.head(location, headers=V).headers["upload-offset"])
        if offset:
            break
        time.sleep(0.05)
    assert 0 < offset <= MIB
    done = patch_until_unlocked(http, location, offset, data[offset:])
    assert done.status_code == 204, done.text
    assert http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}").content == data


# --- extensions ----------------------------------------------------------------------------------


def test_creation_with_upload(http):
    data = b"a,b\n1,2\n"
    created = http.post(
        TUS,
        content=data,
        headers={
            **OCTETS,
            "Upload-Length": str(len(data) + 4),
            "Upload-Metadata": metadata(filename="d.csv", purpose="training"),
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == str(len(data))
    done = send(http, created.headers["location"], len(data), b"3,4\n")
    assert done.status_code == 204
    assert http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}").content == data + b"3,4\n"


def test_creation_with_the_whole_file_completes_at_once(http):
    created = http.post(
        TUS,
        content=b"x,y\n",
        headers={**OCTETS, "Upload-Length": "4", "Upload-Metadata": metadata(filename="d.csv", purpose="training")},
    )
    assert created.status_code == 201
    assert http.get(f"/api/v1/data/files/{created.headers['depot-file-path']}").content == b"x,y\n"


def test_creation_defer_length(http):
    location = create(http, None).headers["location"]
    head = http.head(location, headers=V)
    assert head.headers["upload-defer-length"] == "1" and "upload-length" not in head.headers
    assert send(http, location, 0, b"a,b\n").status_code == 204
    assert_error(send(http, location, 4, b"1", {"Upload-Length": str(MAX + 1)}), 413)
    done = send(http, location, 4, b"1,2\n", {"Upload-Length": "8"})
    assert done.status_code == 204 and done.headers["depot-file-path"]
    assert http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}").content == b"a,b\n1,2\n"


def test_empty_file_completes_at_creation(http):
    created = create(http, 0, name="empty.txt")
    assert created.status_code == 201
    path = created.headers["depot-file-path"]
    assert http.get(f"/api/v1/data/files/{path}").content == b""


def test_termination_leaves_nothing(http, s3, settings, redis_client):
    data = csv_bytes(6 * MIB)
    location = create(http, len(data) + 10).headers["location"]
    assert send(http, location, 0, data).status_code == 204  # one part in S3, the rest a tail
    assert open_uploads(s3, settings.bucket("training")) != []
    assert http.delete(location, headers=V).status_code == 204
    assert_error(http.head(location, headers=V), 404)
    assert_error(send(http, location, len(data), b"1"), 404)
    assert open_uploads(s3, settings.bucket("training")) == []
    assert stored_keys(s3, settings.bucket("training")) == []
    assert [k for k in tus_state(redis_client) if not k.endswith("tus:expiry")] == []


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
def test_checksum_per_chunk(http, algorithm):
    location = create(http, 8).headers["location"]
    good = base64.b64encode(hashlib.new(algorithm, b"a,b\n").digest()).decode()
    bad = base64.b64encode(hashlib.new(algorithm, b"nope").digest()).decode()
    assert_error(send(http, location, 0, b"a,b\n", {"Upload-Checksum": f"{algorithm} {bad}"}), 460)
    assert http.head(location, headers=V).headers["upload-offset"] == "0"  # the chunk was dropped
    assert send(http, location, 0, b"a,b\n", {"Upload-Checksum": f"{algorithm} {good}"}).status_code == 204
    assert http.head(location, headers=V).headers["upload-offset"] == "4"


def test_checksum_mismatch_drops_a_multi_part_chunk(http):
    data = csv_bytes(13 * MIB)
    location = create(http, len(data)).headers["location"]
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    assert_error(send(http, location, 0, data, {"Upload-Checksum": f"sha256 {wrong}"}), 460)
    assert http.head(location, headers=V).headers["upload-offset"] == "0"
    right = base64.b64encode(hashlib.sha256(data).digest()).decode()
    done = send(http, location, 0, data, {"Upload-Checksum": f"sha256 {right}"})
    assert done.status_code == 204
    assert http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}").content == data


# --- creation checks: the form's rules, limits, hostile headers ------------------------------------


@pytest.mark.parametrize(
    ("meta", "status"),
    [
        ({"filename": "tool.exe", "purpose": "training"}, 400),  # not an allowed type
        ({"filename": "a.csv", "purpose": "nowhere"}, 400),
        ({"filename": "a.csv", "purpose": "training", "category": "audio"}, 400),  # category inconsistent
        ({"filename": "a.csv", "purpose": "training", "metadata": "[1]"}, 400),  # not a JSON object
        ({"filename": "a.csv", "purpose": "training", "colour": "red"}, 400),  # unknown key
        ({"filename": "../../etc/passwd.csv", "purpose": "training"}, 400),
        ({"purpose": "training"}, 400),  # no filename
    ],
    ids=["type", "purpose", "category", "metadata", "unknown-key", "traversal", "no-filename"],
)
def test_metadata_is_checked_like_the_upload_form(http, s3, settings, redis_client, meta, status):
    answer = http.post(TUS, headers={**V, "Upload-Length": "4", "Upload-Metadata": metadata(**meta)})
    assert_error(answer, status)
    assert "location" not in answer.headers
    assert tus_state(redis_client) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Length": "-1"},
        {"Upload-Length": "99999999999999999999999"},
        {"Upload-Length": "1e3"},
        {"Upload-Length": "0x10"},
        {"Upload-Length": ""},
        {"Upload-Defer-Length": "2"},
        {},
        {"Upload-Length": "4", "Upload-Defer-Length": "1"},
        {"Upload-Length": "4", "Upload-Metadata": "filename !!!notbase64"},
        {"Upload-Length": "4", "Upload-Metadata": "filename " + b64("a.csv") + ",filename " + b64("b.csv")},
        {"Upload-Length": "4", "Repr-Digest": "sha-256=:###:"},
        {"Upload-Length": "4", "Repr-Digest": "sha-256=:" + b64(b"short") + ":"},
        {"Upload-Length": "4", "Repr-Digest": "md5=:" + b64(b"x" * 16) + ":"},
    ],
    ids=[
        "negative",
        "huge",
        "exponent",
        "hex",
        "empty",
        "defer-2",
        "no-length",
        "both",
        "bad-base64",
        "dup-key",
        "digest-base64",
        "digest-size",
        "digest-algorithm",
    ],
)
def test_malformed_creation_headers_are_400(http, redis_client, headers):
    base = {**V, "Upload-Metadata": metadata(filename="a.csv", purpose="training")}
    assert_error(http.post(TUS, headers={**base, **headers}), 400)
    assert tus_state(redis_client) == []


def test_duplicate_headers_are_400(http, tus_api):
    meta = metadata(filename="a.csv", purpose="training")
    twice = [("Tus-Resumable", "1.0.0"), ("Upload-Length", "4"), ("Upload-Length", "8"), ("Upload-Metadata", meta)]
    assert_error(http.post(TUS, headers=twice), 400)
    location = create(http, 8).headers["location"]
    offsets = [*OCTETS.items(), ("Upload-Offset", "0"), ("Upload-Offset", "4")]
    assert_error(http.patch(location, content=b"a,b\n", headers=offsets), 400)
    assert http.head(location, headers=V).headers["upload-offset"] == "0"


def test_length_over_the_limit_is_413_at_creation(http, redis_client):
    assert_error(create(http, MAX + 1), 413)
    assert tus_state(redis_client) == []


@pytest.mark.parametrize("offset", ["-1", "18446744073709551616", "1.5", "abc", ""])
def test_bad_offsets_are_400(http, offset):
    location = create(http, 8).headers["location"]
    assert_error(http.patch(location, content=b"a", headers={**OCTETS, "Upload-Offset": offset}), 400)
    assert_error(http.patch(location, content=b"a", headers=OCTETS), 400)  # missing
    assert_error(send(http, location, 0, b"a", {"Upload-Checksum": "sha256 ***"}), 400)
    assert_error(send(http, location, 0, b"a", {"Upload-Checksum": "crc32 AAAA"}), 400)
    assert http.head(location, headers=V).headers["upload-offset"] == "0"


def test_content_not_of_its_type_ends_the_upload(http, s3, settings, redis_client):
    location = create(http, 8192).headers["location"]
    assert_error(send(http, location, 0, b"\x00" * 8192), 400)  # NUL bytes in a .csv
    assert_error(http.head(location, headers=V), 404)
    assert tus_state(redis_client) == []


# --- Repr-Digest (RFC 9530) ----------------------------------------------------------------------------


def test_repr_digest_on_tus(http, s3, settings, redis_client):
    data = csv_bytes(7 * MIB)
    good = f"sha-256=:{b64(hashlib.sha256(data).digest())}:"
    bad = f"sha-256=:{b64(hashlib.sha256(b'other').digest())}:"
    location = create(http, len(data), headers={"Repr-Digest": bad}).headers["location"]
    assert_error(send(http, location, 0, data), 460)
    assert_error(http.head(location, headers=V), 404)  # the upload is over, nothing stored
    assert stored_keys(s3, settings.bucket("training")) == []
    assert open_uploads(s3, settings.bucket("training")) == []
    location = create(http, len(data), headers={"Repr-Digest": good}).headers["location"]
    done = send(http, location, 0, data)
    assert done.status_code == 204
    download = http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}")
    assert download.headers["repr-digest"] == good and download.content == data
    assert http.head(f"/api/v1/data/files/{done.headers['depot-file-path']}").headers["repr-digest"] == good


def test_repr_digest_on_post_upload(http, s3, settings):
    data = b"a,b\n1,2\n"
    good = f"sha-256=:{b64(hashlib.sha256(data).digest())}:"
    wrong = f"sha-256=:{b64(hashlib.sha256(b'x').digest())}:"
    refused = http.post(
        "/api/v1/data/upload",
        data={"purpose": "training"},
        files={"file": ("a.csv", data)},
        headers={"Repr-Digest": wrong},
    )
    assert_error(refused, 400)
    assert "Repr-Digest" in refused.json()["error"]
    assert stored_keys(s3, settings.bucket("training")) == []
    assert_error(
        http.post(
            "/api/v1/data/upload",
            data={"purpose": "training"},
            files={"file": ("a.csv", data)},
            headers={"Repr-Digest": "sha-256=:nope:"},
        ),
        400,
    )
    stored = http.post(
        "/api/v1/data/upload",
        data={"purpose": "training"},
        files={"file": ("a.csv", data)},
        headers={"Repr-Digest": good},
    )
    assert stored.status_code == 201, stored.text
    download = http.get(f"/api/v1/data/files/{stored.json()['file']['path']}")
    assert download.headers["repr-digest"] == good and download.content == data
    headed = http.head(f"/api/v1/data/files/{stored.json()['file']['path']}")  # HEAD names it too
    assert headed.status_code == 200 and headed.headers["repr-digest"] == good and headed.content == b""


@pytest.mark.slow
def test_repr_digest_mismatch_on_a_large_post_upload_stores_nothing(http, s3, settings):
    data = csv_bytes(13 * MIB)
    wrong = f"sha-256=:{b64(hashlib.sha256(b'x').digest())}:"
    refused = http.post(
        "/api/v1/data/upload",
        data={"purpose": "training"},
        files={"file": ("a.csv", data)},
        headers={"Repr-Digest": wrong},
    )
    assert_error(refused, 400)
    assert stored_keys(s3, settings.bucket("training")) == []
    assert open_uploads(s3, settings.bucket("training")) == []


# --- concurrency, expiry, ownership ------------------------------------------------------------------


def test_concurrent_patches_one_wins_the_other_423(http, tus_api, redis_client):
    data = csv_bytes(2 * MIB)
    location = create(http, len(data)).headers["location"]
    release = threading.Event()
    answers: list[httpx.Response] = []

    def slow_body() -> Iterator[bytes]:
        yield data[:MIB]
        release.wait(60)
        yield data[MIB:]

    def first() -> None:
        with httpx.Client(base_url=tus_api.url, timeout=120) as other:
            answers.append(other.patch(location, content=slow_body(), headers={**OCTETS, "Upload-Offset": "0"}))

    writer = threading.Thread(target=first)
    writer.start()
    try:
        lock = f"depot:tus:{location.rsplit('/', 1)[1]}:lock"
        for _ in range(600):  # until the first PATCH holds the upload's lock
            if redis_client.exists(lock):
                break
            time.sleep(0.05)
        assert redis_client.exists(lock)
        assert_error(send(http, location, 0, data), 423)
        assert_error(http.delete(location, headers=V), 423)
    finally:
        release.set()
        writer.join(60)
    assert answers[0].status_code == 204, answers[0].text
    assert answers[0].headers["depot-file-path"]
    assert http.get(f"/api/v1/data/files/{answers[0].headers['depot-file-path']}").content == data


def test_expired_uploads_are_removed_by_the_worker(http, tus_api, s3, settings, redis_client):
    data = csv_bytes(7 * MIB)
    expiring = create(http, len(data) + 1).headers["location"]
    kept = create(http, 10).headers["location"]
    assert send(http, expiring, 0, data).status_code == 204  # an open multipart upload and a tail
    assert open_uploads(s3, settings.bucket("training")) != []
    upload_id = expiring.rsplit("/", 1)[1]
    # Its expiry passes (as if 24 h went by): the schedule and the state say so.
    redis_client.zadd("depot:tus:expiry", {upload_id: 1})
    redis_client.hset(f"depot:tus:{upload_id}", "expires", "1")
    assert_error(http.head(expiring, headers=V), 404)  # expired is gone at once, cleanup or not
    result = run_worker_burst(tus_api.env)
    assert result.returncode == 0, result.stderr
    assert open_uploads(s3, settings.bucket("training")) == []
    assert not redis_client.exists(f"depot:tus:{upload_id}")
    assert redis_client.zscore("depot:tus:expiry", upload_id) is None
    assert http.head(kept, headers=V).status_code == 200  # not expired: untouched


def test_upload_expires_follows_the_setting(http):
    answer = create(http, 10)
    expires = email.utils.parsedate_to_datetime(answer.headers["upload-expires"]).timestamp()
    assert 86400 - 120 < expires - time.time() <= 86400 + 1


@pytest.fixture(scope="module")
def auth_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("tus-auth-api"),
        api_keys=keys_config(),
        rate_limit_per_minute="100000",
        rate_limit_burst="10000",
    )
    yield server
    server.stop()


def test_an_upload_belongs_to_its_key(auth_api, clean):
    with httpx.Client(base_url=auth_api.url, timeout=60) as http:
        assert http.options(TUS).status_code == 204  # open: it reveals no data
        assert_error(create(http, 8), 401)
        created = create(http, 8, headers=bearer("writer"))
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        for other in ("admin", "trainer"):
            assert_error(http.head(location, headers={**V, **bearer(other)}), 404)
            assert_error(send(http, location, 0, b"a,b\n", bearer(other)), 404)
            assert_error(http.delete(location, headers={**V, **bearer(other)}), 404)
            assert_error(http.get(location, headers=bearer(other)), 404)
        assert http.head(location, headers={**V, **bearer("writer")}).headers["upload-offset"] == "0"
        done = send(http, location, 0, b"a,b\n1,2\n", bearer("writer"))
        assert done.status_code == 204
        assert http.get(location, headers=bearer("writer")).json()["file"]["path"] == done.headers["depot-file-path"]
        assert_error(create(http, 8, headers=bearer("reader")), 403)  # no write scope
        assert_error(create(http, 8, headers=bearer("trainer"), purpose="ingestion"), 403)  # purpose-bound key
        assert create(http, 8, headers=bearer("trainer")).status_code == 201


# --- a killed API process, then another one -------------------------------------------------------------


def patch_until_unlocked(http: httpx.Client, location: str, offset: int, data: bytes) -> httpx.Response:
    """A resuming client's PATCH: 423 while a dead process's lock runs out, then the answer."""
    for _ in range(400):
        answer = send(http, location, offset, data)
        if answer.status_code != 423:
            return answer
        time.sleep(0.05)
    raise AssertionError("the upload stayed locked")


@pytest.mark.slow
def test_sigkill_mid_upload_then_resume_on_another_process(base_env, tmp_path, clean, s3, settings):
    data = csv_bytes(20 * MIB + 12345)
    first = start_api(base_env, tmp_path, max_upload_size=str(MAX), tus_lock_seconds="1")
    second = start_api(base_env, tmp_path, max_upload_size=str(MAX), tus_lock_seconds="1")
    try:
        with httpx.Client(base_url=first.url, timeout=60) as one, httpx.Client(base_url=second.url, timeout=60) as two:
            location = create(one, len(data)).headers["location"]
            assert send(one, location, 0, data[: 7 * MIB]).status_code == 204  # a part and a 1 MiB tail
            stalled = threading.Event()

            def body() -> Iterator[bytes]:
                for start in range(7 * MIB, 14 * MIB, MIB):
                    yield data[start : start + MIB]
                stalled.wait(60)  # hold the request open mid-body

            def doomed() -> None:
                with httpx.Client(base_url=first.url, timeout=60) as client:
                    try:
                        client.patch(location, content=body(), headers={**OCTETS, "Upload-Offset": str(7 * MIB)})
                    except httpx.HTTPError:
                        pass  # its server is killed under it

            writer = threading.Thread(target=doomed)
            writer.start()
            for _ in range(1200):  # until the first process saved a part of this PATCH
                if int(two.head(location, headers=V).headers["upload-offset"]) > 7 * MIB:
                    break
                time.sleep(0.05)
            first.process.kill()  # SIGKILL: no cleanup, no finally
            first.process.wait()
            stalled.set()
            writer.join(60)
            offset = int(two.head(location, headers=V).headers["upload-offset"])
            assert 7 * MIB < offset <= 14 * MIB
            answer = patch_until_unlocked(two, location, offset, data[offset:])
            assert answer.status_code == 204, answer.text
            stored = two.get(f"/api/v1/data/files/{answer.headers['depot-file-path']}")
            assert stored.content == data
            assert stored.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
            assert two.get(location).json()["file"]["hash"] == hashlib.sha256(data).hexdigest()
            assert open_uploads(s3, settings.bucket("training")) == []
    finally:
        first.stop()
        second.stop()


# --- tuspy: a client we did not write ------------------------------------------------------------------


def test_tuspy_upload_interrupt_resume_with_checksums(http, tus_api):
    from tusclient import client as tus_client

    data = csv_bytes(9 * MIB + 7)
    tus = tus_client.TusClient(tus_api.url + TUS)
    meta = {"filename": "tuspy.csv", "purpose": "ingestion", "metadata": '{"client": "tuspy"}'}
    first = tus.uploader(file_stream=io.BytesIO(data), chunk_size=2 * MIB, metadata=meta, upload_checksum=True)
    first.upload(stop_at=5 * MIB)  # interrupted after a few chunks
    assert int(http.head(first.url, headers=V).headers["upload-offset"]) == first.offset >= 5 * MIB
    resumed = tus.uploader(file_stream=io.BytesIO(data), url=first.url, chunk_size=3 * MIB, upload_checksum=True)
    assert resumed.offset == first.offset  # it asked the server where to go on
    resumed.upload()
    path = resumed.request.response_headers["depot-file-path"]
    stored = http.get(f"/api/v1/data/files/{path}")
    assert stored.content == data and path.startswith("ingestion/data/")
    assert http.get(first.url).json()["file"]["metadata"] == {"client": "tuspy"}


def test_tuspy_sees_a_checksum_mismatch(http, tus_api):
    from tusclient import client as tus_client
    from tusclient.exceptions import TusCommunicationError
    from tusclient.uploader import Uploader

    class Lying(Uploader):  # a checksum that does not match its chunk, as a corrupting proxy would cause
        CHECKSUM_ALGORITHM_PAIR = ("md5", lambda chunk: hashlib.md5(chunk + b"!"))

    data = b"a,b\n" * 100
    tus = tus_client.TusClient(tus_api.url + TUS)
    uploader = Lying(
        file_stream=io.BytesIO(data),
        client=tus,
        metadata={"filename": "x.csv", "purpose": "training"},
        upload_checksum=True,
    )
    with pytest.raises(TusCommunicationError) as failure:
        uploader.upload()
    assert failure.value.status_code == 460
    assert http.head(uploader.url, headers=V).headers["upload-offset"] == "0"
