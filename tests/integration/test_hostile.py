"""Hostile input corpus: every case is a 4xx JSON error (never a 500), stores nothing, and the
server stays healthy. Requests go out as raw bytes so that no client library tidies them up.

ZIP and model-archive attacks (traversal, absolute and drive paths, symlinks, encryption, bombs,
entry counts, non-ZIPs) live in test_models_zip.py::test_zip_attacks_are_400_and_nothing_is_stored;
this corpus adds the model-import name and path attacks and counts those cases too."""

import json
import uuid

import httpx
import pytest

from tests.conftest import open_uploads, stored_keys
from tests.support import raw_http

B = "hostileboundary"
UPLOAD = "/api/v1/data/upload"


def part(name: str, value: bytes | str, filename: str | bytes | None = None, headers: bytes = b"") -> bytes:
    value = value.encode() if isinstance(value, str) else value
    disposition = f'form-data; name="{name}"'.encode()
    if filename is not None:
        disposition += b'; filename="' + (filename.encode() if isinstance(filename, str) else filename) + b'"'
    return b"--" + B.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n" + headers + b"\r\n" + value + b"\r\n"


def form(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (f"--{B}--\r\n".encode() if close else b"")


def post(body: bytes, content_type: str | None = f"multipart/form-data; boundary={B}",
         length: int | None = None, path: str = UPLOAD) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: depot\r\nConnection: close\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    return head.encode() + body


def with_file(filename: str | bytes, **fields: str) -> bytes:
    return post(form(*(part(k, v) for k, v in fields.items()), part("file", b"payload", filename)))


def with_fields(**fields: str | bytes) -> bytes:
    return post(form(*(part(k, v) for k, v in fields.items()), part("file", b"payload", "ok.txt")))


def request(method: str, path: str) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: depot\r\nConnection: close\r\n\r\n".encode()


def json_post(path: str, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return post(body, "application/json", path=path)


FILENAMES = {
    "dotdot-slash": "../../etc/passwd.txt",
    "dotdot-backslash": "..\\..\\windows\\win.txt",
    "encoded-traversal": "%2e%2e%2f%2e%2e%2fetc%2fpasswd.txt",
    "double-encoded-traversal": "%252e%252e%252fetc.txt",
    "triple-encoded-traversal": "%25252e%25252e%25252fetc.txt",
    "encoded-backslash": "..%5c..%5cwin.txt",
    "absolute-unix": "/etc/passwd.txt",
    "absolute-windows": "\\\\server\\share\\x.txt",
    "drive-path": "C:\\Windows\\system.txt",
    "drive-relative": "C:evil.txt",
    "nul-byte": b"a\x00.txt",
    "php-double-extension": "shell.jpg.php",
    "php-nul-extension": "a.php%00.txt",
    "php-nul-jpg": "a.php%00.jpg",
    "exe-trailing-dot": "setup.exe.",
    "rtl-override": "invoice\u202etxt.exe",
    "rtl-override-allowed-ext": "report\u202egnp.txt",
    "zero-width-space": "a\u200b.txt",
    "escape-sequence": "a\x1b[31m.txt",
    "bell-and-backspace": "a\x07\x08.txt",
    "line-separator": "a\u2028b.txt",
    "tab": "a\tb.txt",
    "300-chars": "a" * 296 + ".txt",
    "empty": "",
    "spaces-only": "   ",
    "dot": ".",
    "dotdot": "..",
    "dots-and-spaces": ". . .",
    "fullwidth-traversal": "\uff0e\uff0e\uff0fetc.txt",
    "no-extension": "Makefile",
    "html-extension": "index.html",
    "svg-extension": "logo.svg",
}

FILE_PARTS = {
    "filename-star-traversal": post(form(
        b"--" + B.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''..%2F..%2Fx.txt"
        b"\r\n\r\npayload\r\n")),
    "file-part-without-filename": post(form(part("file", b"payload"))),
    "file-in-another-field": post(form(part("upload", b"payload", "a.txt"))),
    "batch-of-hostile-names": post(form(part("file", b"one", "../a.txt"), part("file", b"two", "b.exe"),
                                        part("file", b"three", "c\u202etxt.exe"))),
    "no-file-part": post(form(part("purpose", "training"))),
}

MULTIPART = {
    "no-content-type": post(form(part("file", b"x", "a.txt")), content_type=None),
    "json-content-type": post(b'{"file": "x"}', "application/json"),
    "missing-boundary": post(form(part("file", b"x", "a.txt")), "multipart/form-data"),
    "empty-boundary": post(form(part("file", b"x", "a.txt")), "multipart/form-data; boundary="),
    "boundary-300-chars": post(form(part("file", b"x", "a.txt")), "multipart/form-data; boundary=" + "b" * 300),
    "wrong-boundary": post(form(part("file", b"x", "a.txt")), "multipart/form-data; boundary=other"),
    "truncated-body": post(form(part("file", b"x" * 1000, "a.txt"), close=False)[:-500]),
    "no-closing-boundary": post(form(part("file", b"x", "a.txt"), close=False)),
    "empty-body": post(b""),
    "garbage-body": post(b"\x00\xff" * 500),
    # The model ZIP route ignores parts other than 'file', so only the part limit can stop this one
    # (the data upload refuses the first unknown field name long before: see EXPECTED_ERRORS).
    "1001-parts": post(form(*(part(f"f{i}", "x") for i in range(1001))), path="/v1/upload/local"),
    "part-without-disposition": post(b"--" + B.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + B.encode()
                                     + b"--\r\n"),
    "disposition-not-form-data": post(b"--" + B.encode() + b"\r\nContent-Disposition: attachment; filename=\"a.txt\""
                                      b"\r\n\r\nx\r\n--" + B.encode() + b"--\r\n"),
    "part-headers-32k": post(form(part("file", b"x", "a.txt", headers=b"X-Junk: " + b"j" * 32768 + b"\r\n"))),
    "content-length-short": post(form(part("file", b"x" * 4000, "a.txt")), length=2000),
    "content-length-zero": post(form(part("file", b"x", "a.txt")), length=0),
    "content-length-huge": post(form(part("file", b"x", "a.txt")), length=10**15),
    "content-length-negative": post(form(part("file", b"x", "a.txt")), length=-5),
    "unknown-field": with_fields(hash="forged"),
    "duplicate-field": post(form(part("purpose", "training"), part("purpose", "ingestion"), part("file", b"x", "a.txt"))),
    "field-not-utf8": with_fields(description=b"\xff\xfe\xfa"),
    "field-100k": with_fields(description="d" * 100_000),
}

VALUES = {
    "purpose-with-slash": with_fields(purpose="training/../ingestion"),
    "purpose-leading-slash": with_fields(purpose="/training"),
    "purpose-models-bucket": with_fields(purpose="models"),
    "purpose-encoded-slash": with_fields(purpose="training%2F.."),
    "category-with-slash": with_fields(category="text/../../audio"),
    "category-trailing-slash": with_fields(category="text/"),
    "category-mismatch": with_fields(category="audio"),
    "metadata-list": with_fields(metadata="[1, 2]"),
    "metadata-string": with_fields(metadata='"just a string"'),
    "metadata-null": with_fields(metadata="null"),
    "metadata-number": with_fields(metadata="42"),
    "metadata-not-json": with_fields(metadata="{nope"),
    "metadata-1mb": with_fields(metadata=json.dumps({"k": "v" * (1024 * 1024)})),
    "metadata-over-limit": with_fields(metadata=json.dumps({"k": "v" * 20_000})),
    "metadata-deep-nesting": with_fields(metadata="[" * 8000 + "]" * 8000),
    "description-oversized": with_fields(description="x" * 2001),
    "description-with-nul": with_fields(description="a\x00b"),
}

SAMPLE = "training/text/a_20260101_000000_abcdef12.txt"
PATHS = {
    f"{method.lower()}-{name}": request(method, f"/api/v1/data/files/{path}")
    for name, path in {
        "dotdot": "../../etc/passwd", "encoded": "..%2F..%2Fetc%2Fpasswd", "double-encoded": "%252e%252e%252fx.txt",
        "mixed": "training/text/..%2F..%2Fx.txt", "backslash": "training/text/..%5C..%5Cx.txt",
        "manifest": SAMPLE + ".meta.json", "nul": "training/text/a%00.txt", "absolute": "/etc/passwd",
        "overlong-utf8": "training/text/%C0%AE%C0%AE/x.txt", "extra-segment": SAMPLE + "/x",
        "unknown-purpose": "models/text/a.txt", "missing": SAMPLE,
    }.items()
    for method in ("GET", "DELETE")
}

MODELS = {
    "zip-model-name-traversal": post(form(part("file", b"PK\x05\x06" + bytes(18), "m.zip")),
                                     path="/v1/upload/local?model_name=../../x"),
    "zip-revision-traversal": post(form(part("file", b"PK\x05\x06" + bytes(18), "m.zip")),
                                   path="/v1/upload/local?revision=../main"),
    "hf-tag-traversal": json_post("/v1/upload/huggingface", {"model_tag": "../../etc/passwd"}),
    "hf-tag-absolute": json_post("/v1/upload/huggingface", {"model_tag": "/etc/passwd"}),
    "hf-revision-traversal": json_post("/v1/upload/huggingface", {"model_tag": "a/b", "revision": "../../x"}),
    "hf-not-json": post(b"{nope", "application/json", path="/v1/upload/huggingface"),
    "github-owner-slash": json_post("/v1/upload/github", {"owner": "a/../b", "repo_name": "c"}),
    "task-id-traversal": request("GET", "/v1/upload/tasks/..%2F..%2Fetc"),
    "model-id-traversal": request("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd"),
    "model-delete-traversal": request("DELETE", "/v1/models/local/..%2F..%2Fx"),
    "models-offset-beyond-int64": request("GET", "/v1/models?offset=" + "9" * 30),
    "files-offset-beyond-int64": request("GET", "/api/v1/data/files?offset=" + "9" * 30),
}

CASES = {**{f"filename-{k}": with_file(v) for k, v in FILENAMES.items()}, **FILE_PARTS, **MULTIPART,
         **VALUES, **PATHS, **MODELS}
# Cases that must fail for the reason their name gives, not an earlier one.
EXPECTED_ERRORS = {"1001-parts": "more than 1000 parts", "unknown-field": "unknown form field",
                   "duplicate-field": "given twice", "metadata-deep-nesting": "nested too deeply"}


def test_the_corpus_is_large_enough():
    zip_attacks = 12  # test_models_zip.py::attacks()
    assert len(CASES) + zip_attacks >= 60
    assert len(CASES) >= 100


def nothing_stored(s3, settings, redis_client) -> None:
    for bucket in (settings.bucket("training"), settings.bucket("ingestion"), settings.bucket("models")):
        assert stored_keys(s3, bucket) == [], bucket
        assert open_uploads(s3, bucket) == [], bucket
    assert [k for k in redis_client.keys("*") if ":e:" in k or "models:" in k] == []


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_request_is_a_4xx_json_error(name, client, api, s3, settings, redis_client):
    raw = CASES[name]
    status, body = raw_http(api.url, raw, timeout=30)
    assert 400 <= status < 500, (status, body[:300])
    if status != 400 or body.startswith(b"{"):  # uvicorn's own 400 for unparseable HTTP is plain text
        answer = json.loads(body)
        assert answer["success"] is False and answer["error"]
        assert EXPECTED_ERRORS.get(name, "") in answer["error"]
    else:
        assert raw.split(b"\r\n\r\n", 1)[0].count(b"Content-Length: -") == 1, body  # only a broken HTTP frame
    nothing_stored(s3, settings, redis_client)
    assert httpx.get(api.url + "/health/ready", timeout=10).status_code == 200


def test_nfc_and_nfd_twins_are_one_name_and_never_overwrite(client, s3, settings):
    """'café.txt' composed and decomposed normalise to one NFC name; each upload gets its own object."""
    paths = []
    for name in ("caf\u00e9.txt", "cafe\u0301.txt"):
        response = client.post(UPLOAD, files={"file": (name, name.encode())}, data={"purpose": "training"})
        assert response.status_code == 201, response.text
        assert response.json()["file"]["original_filename"] == "caf\u00e9.txt"
        paths.append(response.json()["file"]["path"])
    assert paths[0] != paths[1]
    assert [client.get(f"/api/v1/data/files/{p}").content for p in paths] == ["caf\u00e9.txt".encode(),
                                                                              "cafe\u0301.txt".encode()]


def test_server_stays_healthy_after_the_whole_corpus(client, api):
    """One more pass over every case on one connection each, then an ordinary upload still works."""
    for raw in CASES.values():
        raw_http(api.url, raw, timeout=30)
    name = f"after-{uuid.uuid4().hex[:6]}.txt"
    response = client.post(UPLOAD, files={"file": (name, b"still fine")})
    assert response.status_code == 201, response.text
    assert client.get(f"/api/v1/data/files/{response.json()['file']['path']}").content == b"still fine"
