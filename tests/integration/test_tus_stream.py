"""tus PATCH bodies streamed into S3 parts (``service/storage/tus_write.py``), against a real
API, SeaweedFS and Redis: a body of known length of 5 MiB or more goes into parts sized to
leave no tail in Redis, a cut inside a streamed part keeps the parts before it (and the
upload resumes from there to a byte-identical file), and a body that is not what its name
says ends the upload with no multipart upload left open."""

import hashlib
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import open_uploads
from tests.integration.test_tus import OCTETS, V, assert_error, create, csv_bytes, patch_until_unlocked, send
from tests.support import MIB, ApiServer, start_api


@pytest.fixture(scope="module")
def stream_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("tus-stream-api"),
        ready_path="/health/ready",
        max_upload_size=str(64 * MIB),
        part_size=str(6 * MIB),
    )
    yield server
    server.stop()


@pytest.fixture
def http(stream_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stream_api.url, timeout=120) as client:
        yield client


def part_sizes(s3, bucket: str) -> list[int]:
    """The sizes of the parts of the one multipart upload open in ``bucket``."""
    (upload,) = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    parts = s3.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
    return [part["Size"] for part in parts]


def tail_size(redis_client, location: str) -> int:
    """Bytes kept in Redis for the next PATCH (the state hash holds binary fields: read just this)."""
    key = f"depot:tus:{location.rsplit('/', 1)[1]}"
    assert redis_client.exists(key)
    return redis_client.hstrlen(key, "tail")


@pytest.mark.slow
def test_large_patches_become_parts_with_no_tail(http, s3, settings, redis_client):
    data = csv_bytes(28 * MIB)
    location = create(http, len(data)).headers["location"]
    bucket = settings.bucket("training")
    assert send(http, location, 0, data[: 8 * MIB]).status_code == 204
    assert part_sizes(s3, bucket) == [8 * MIB]  # one part of the whole PATCH, not 6 MiB + a 2 MiB tail
    assert tail_size(redis_client, location) == 0
    assert send(http, location, 8 * MIB, data[8 * MIB : 25 * MIB]).status_code == 204
    assert part_sizes(s3, bucket) == [8 * MIB, 17 * MIB // 2, 17 * MIB // 2]
    assert tail_size(redis_client, location) == 0
    done = send(http, location, 25 * MIB, data[25 * MIB :])  # under 5 MiB: gathered, the file's last part
    assert done.status_code == 204
    stored = http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}")
    assert stored.content == data
    assert stored.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
    assert open_uploads(s3, bucket) == []


@pytest.mark.slow
def test_a_cut_inside_a_streamed_part_keeps_the_parts_before_it(http, stream_api, s3, settings, redis_client):
    data = csv_bytes(20 * MIB)
    location = create(http, len(data)).headers["location"]
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode()
    host, port = stream_api.url.rsplit(":", 1)
    with socket.create_connection((host.removeprefix("http://"), int(port))) as sock:
        sock.sendall(head + data[: 10 * MIB])  # three parts of 20/3 MiB: the first whole, the second cut
    # A resuming client: 423 while the cut request still holds the lock, then the answer.
    first_part = len(data) // 3 + 1
    answer = patch_until_unlocked(http, location, first_part, data[first_part:])
    assert answer.status_code == 204, answer.text
    assert int(http.head(location, headers=V).headers["upload-offset"]) == len(data)
    stored = http.get(f"/api/v1/data/files/{answer.headers['depot-file-path']}")
    assert stored.content == data
    assert stored.headers["x-checksum-sha256"] == hashlib.sha256(data).hexdigest()
    assert open_uploads(s3, settings.bucket("training")) == []


def test_a_streamed_body_not_of_its_type_ends_the_upload(http, s3, settings, redis_client):
    location = create(http, 6 * MIB).headers["location"]
    refused = http.patch(location, content=b"\x00" * (6 * MIB), headers={**OCTETS, "Upload-Offset": "0"})
    assert_error(refused, 400)  # NUL bytes in a .csv: refused on its first bytes, mid-part
    assert_error(http.head(location, headers=V), 404)
    assert open_uploads(s3, settings.bucket("training")) == []
    assert [k for k in redis_client.keys("*tus*") if not k.endswith("tus:expiry")] == []


def test_a_chunked_patch_leaves_a_tail_that_the_next_patch_streams_first(http, s3, settings, redis_client):
    data = csv_bytes(7 * MIB)
    location = create(http, len(data)).headers["location"]
    cut = 5 * MIB + MIB // 2

    def chunked() -> Iterator[bytes]:  # no Content-Length: the body is gathered
        yield from (data[start : min(start + MIB, cut)] for start in range(0, cut, MIB))

    assert http.patch(location, content=chunked(), headers={**OCTETS, "Upload-Offset": "0"}).status_code == 204
    assert tail_size(redis_client, location) == cut  # under one part (6 MiB): all of it kept in Redis
    assert send(http, location, cut, b"").status_code == 204  # an empty PATCH: the tail alone becomes a part
    assert tail_size(redis_client, location) == 0
    assert part_sizes(s3, settings.bucket("training")) == [cut]
    done = send(http, location, cut, data[cut:])
    assert done.status_code == 204
    assert http.get(f"/api/v1/data/files/{done.headers['depot-file-path']}").content == data
