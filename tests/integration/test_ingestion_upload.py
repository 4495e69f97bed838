"""Upload-time ingestion rules against the real stack: content sniffing, batches, duplicates."""

import hashlib
import subprocess
import sys

import httpx
import pytest

from tests.conftest import TEST_MAX_UPLOAD, open_uploads, stored_keys
from tests.samples import GOOD, wav
from tests.support import HEADS, MIB, multipart_stream, pattern_chunks, start_api

EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(range(256)) * 20


def nothing_stored(s3, settings) -> bool:
    return all(stored_keys(s3, settings.bucket(p)) == [] and open_uploads(s3, settings.bucket(p)) == []
               for p in ("training", "ingestion"))


@pytest.mark.parametrize(
    "name, data, fields, error",
    [
        ("setup.txt", EXE, {}, "NUL bytes"),
        ("notes.txt", b"caf\xe9 latin-1", {}, "not valid UTF-8"),
        ("voice.wav", b"just some text, not audio\n", {}, "not WAV audio"),
        ("voice.wav", b"ID3\x03" + b"\x00" * 100, {"category": "audio"}, "not WAV audio"),
        ("song.mp3", b"hello", {}, "not MP3 audio"),
        ("a.ogg", b"RIFF....WAVE", {}, "not OGG audio"),
        ("a.flac", b"OggS", {}, "not FLAC audio"),
        ("bundle.zip", b"Rar!\x1a\x07\x00", {}, "not a zip archive"),
        ("bundle.tar", b"x" * 1024, {}, "not a tar archive"),
        ("bundle.tgz", b"PK\x03\x04", {}, "not a tgz archive"),
        ("data.gz", b"plain", {}, "not a gz archive"),
        ("data.json", b"<xml/>", {}, "does not start like JSON"),
        ("data.xml", b'{"a": 1}', {}, "does not start like XML"),
        ("data.csv", EXE, {}, "NUL bytes"),
        ("data.yaml", b"\xff\xfe\x00y", {}, "NUL bytes"),
        ("empty.wav", b"", {}, "not WAV audio"),
    ],
)
def test_content_that_does_not_match_its_type_is_400_and_stores_nothing(client, s3, settings, name, data,
                                                                        fields, error):
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data=fields)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False and error in response.json()["error"]
    assert nothing_stored(s3, settings)


def test_text_declared_audio_is_rejected(client, s3, settings):
    response = client.post("/api/v1/data/upload", files={"file": ("talk.txt", b"hello")}, data={"category": "audio"})
    assert response.status_code == 400 and "not 'audio'" in response.json()["error"]
    assert nothing_stored(s3, settings)


def test_a_large_mismatch_is_refused_after_multipart_parts_and_leaves_nothing(client, s3, settings):
    """The sniff window is filled before the first S3 part; a mismatch aborts it all."""
    data = b"".join(pattern_chunks(12 * MIB))  # binary: neither a WAV nor text
    response = client.post("/api/v1/data/upload", files={"file": ("big.wav", data)}, data={"purpose": "training"})
    assert response.status_code == 400 and "not WAV audio" in response.json()["error"]
    assert nothing_stored(s3, settings)


def test_an_oversized_mismatch_still_answers_with_its_content_error(client, s3, settings):
    content_type, body = multipart_stream({}, "huge.wav", pattern_chunks(TEST_MAX_UPLOAD + 2 * MIB))
    try:
        response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
        assert response.status_code == 400 and "not WAV audio" in response.json()["error"]
    except httpx.TransportError:
        pass  # the server may close the connection while the client is still sending
    assert nothing_stored(s3, settings)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[str, bytes]:
    """A body with parts in exactly this order: (name, filename or None for a field, content)."""
    boundary = "batchboundary42"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return f"multipart/form-data; boundary={boundary}", body + f"--{boundary}--\r\n".encode()


def test_batch_with_good_and_bad_files_reports_each(client, s3, settings):
    big = HEADS["zip"] + b"z" * (9 * MIB)  # over one S3 part: landed as a multipart upload
    content_type, body = multipart([
        ("file", "a.json", b'{"a": 1}'),
        ("file", "evil.txt", EXE),
        ("file", "voice.wav", wav()),
        ("file", "tool.exe", b"MZ"),
        ("file", "big.zip", big),
        ("file", "fake.wav", b"text"),
        ("purpose", None, b"training"),  # fields after the files apply to all of them
        ("description", None, b"batch of five"),
    ])
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["success"] is False and result["uploaded"] == 3 and result["failed"] == 3
    assert result["message"] == "3 of 6 files uploaded"
    by_name = {item["filename"]: item for item in result["files"]}
    assert [item["filename"] for item in result["files"]] == ["a.json", "evil.txt", "voice.wav", "tool.exe",
                                                              "big.zip", "fake.wav"]
    for good in ("a.json", "voice.wav", "big.zip"):
        item = by_name[good]
        assert item["success"] and item["status"] == 201 and item["file"]["purpose"] == "training"
        assert item["file"]["description"] == "batch of five"
    assert by_name["big.zip"]["file"]["hash"] == hashlib.sha256(big).hexdigest()
    assert client.get(f"/api/v1/data/files/{by_name['big.zip']['file']['path']}").content == big
    assert by_name["evil.txt"]["status"] == 400 and "NUL bytes" in by_name["evil.txt"]["error"]
    assert by_name["tool.exe"]["status"] == 400 and "not allowed" in by_name["tool.exe"]["error"]
    assert "not WAV audio" in by_name["fake.wav"]["error"]
    # Only the good files exist, each with its manifest, and nothing landed in the default bucket.
    assert stored_keys(s3, settings.bucket("ingestion")) == []
    assert len(stored_keys(s3, settings.bucket("training"))) == 6
    assert open_uploads(s3, settings.bucket("training")) == [] and open_uploads(s3, settings.bucket("ingestion")) == []
    assert client.get("/api/v1/data/files").json()["total"] == 3


def test_batch_where_every_file_fails_is_an_error(client, s3, settings):
    content_type, body = multipart([("file", "a.wav", b"x"), ("file", "b.zip", b"y")])
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    result = response.json()
    assert result["success"] is False and "no file was uploaded" in result["error"]
    assert [item["status"] for item in result["files"]] == [400, 400]
    assert nothing_stored(s3, settings)


def test_batch_with_a_bad_field_stores_nothing(client, s3, settings):
    content_type, body = multipart([("file", "a.json", b"[1]"), ("file", "b.json", b"[2]"),
                                    ("purpose", None, b"nonsense")])
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 400 and "unknown purpose" in response.json()["error"]
    assert nothing_stored(s3, settings)


def test_batch_size_limit_is_per_file_and_per_request(client, s3, settings):
    """Each file is held to DEPOT_MAX_UPLOAD_SIZE; the whole body to max(that, DEPOT_MAX_BATCH_BYTES)."""
    content_type, body = multipart([("file", "ok.json", b"[1]"),
                                    ("file", "huge.zip", HEADS["zip"] + b"0" * TEST_MAX_UPLOAD)])
    response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
    assert response.status_code == 201
    items = response.json()["files"]
    assert items[0]["success"] and items[1]["status"] == 413 and "upload limit" in items[1]["error"]
    assert client.get("/api/v1/data/files").json()["total"] == 1

    content_type, body = multipart([("file", f"f{i}.zip", HEADS["zip"] + b"0" * (TEST_MAX_UPLOAD // 3))
                                    for i in range(4)])
    try:
        response = client.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
        assert response.status_code == 413 and response.json()["success"] is False
    except httpx.TransportError:
        pass  # the server may close the connection while the client is still sending
    assert client.get("/api/v1/data/files").json()["total"] == 1
    assert open_uploads(s3, settings.bucket("ingestion")) == []


def test_too_many_files_is_400(base_env, tmp_path, s3, settings, clean):
    server = start_api(base_env, tmp_path, max_batch_files="2")
    try:
        content_type, body = multipart([("file", f"{i}.json", b"[1]") for i in range(3)])
        response = httpx.post(server.url + "/api/v1/data/upload", content=body,
                              headers={"content-type": content_type})
        assert response.status_code == 400 and "at most 2 files" in response.json()["error"]
        assert nothing_stored(s3, settings)
    finally:
        server.stop()


def test_duplicates_allowed_are_marked(client, api, redis_client):
    first = client.post("/api/v1/data/upload", files={"file": ("a.csv", b"x,y\n1,2\n")}).json()["file"]
    second = client.post("/api/v1/data/upload", files={"file": ("b.csv", b"x,y\n1,2\n")}).json()["file"]
    other_purpose = client.post("/api/v1/data/upload", files={"file": ("c.csv", b"x,y\n1,2\n")},
                                data={"purpose": "training"}).json()["file"]
    meta = lambda f: client.get(f"/api/v1/data/files/{f['path']}", params={"metadata": "true"}).json()["metadata"]  # noqa: E731
    assert meta(first)["duplicate"] is False and meta(first)["duplicate_of"] is None
    assert meta(second)["duplicate"] is True and meta(second)["duplicate_of"] == first["path"]
    assert meta(other_purpose)["duplicate"] is False  # duplicates are per purpose
    # Concurrent twins: exactly one original, every other one names a stored path.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(6) as pool:
        twins = list(pool.map(lambda i: client.post("/api/v1/data/upload", files={
            "file": (f"t{i}.json", b'{"twin": 1}')}).json()["file"], range(6)))
    marks = [meta(t)["duplicate_of"] for t in twins]
    assert marks.count(None) == 1 and set(marks) - {None} <= {t["path"] for t in twins}
    # The hash lookup is part of the index: `depot reindex` rebuilds it from the manifests.
    redis_client.flushdb()
    out = subprocess.run([sys.executable, "-m", "service", "reindex"], env=api.env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    fourth = client.post("/api/v1/data/upload", files={"file": ("d.csv", b"x,y\n1,2\n")}).json()["file"]
    assert meta(fourth)["duplicate_of"] == first["path"]


def test_duplicates_rejected_name_the_existing_path(base_env, tmp_path, s3, settings, clean, redis_client):
    server = start_api(base_env, tmp_path, duplicates="reject")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            data = GOOD["records.json"][0]
            first = http.post("/api/v1/data/upload", files={"file": ("a.json", data)}).json()["file"]
            again = http.post("/api/v1/data/upload", files={"file": ("b.json", data)})
            assert again.status_code == 409 and again.json()["success"] is False
            assert first["path"] in again.json()["error"]
            assert len(stored_keys(s3, settings.bucket("ingestion"))) == 2  # the first file and its manifest
            # Once the original is deleted, the content may come again; the lookup was updated.
            assert http.delete(f"/api/v1/data/files/{first['path']}").status_code == 200
            assert http.post("/api/v1/data/upload", files={"file": ("c.json", data)}).status_code == 201
            # Concurrent twins: exactly one wins (the check is atomic in Redis).
            twin = b'{"twin": true}'
            with httpx.Client(base_url=server.url, timeout=60) as other:
                import concurrent.futures as cf
                with cf.ThreadPoolExecutor(6) as pool:
                    codes = list(pool.map(lambda i: (http if i % 2 else other).post(
                        "/api/v1/data/upload", files={"file": (f"t{i}.json", twin)}).status_code, range(6)))
            assert sorted(codes) == [201] + [409] * 5
            assert http.get("/api/v1/data/files").json()["total"] == 2
        assert len(stored_keys(s3, settings.bucket("ingestion"))) == 4
    finally:
        server.stop()
