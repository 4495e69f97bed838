"""Small hostile files that used to hurt the worker or the API (issue 12, items 4-7), each the
shape of the report at a smaller size. One worker process meets the poison file first and a
normal file next (one job at a time): both must end in a terminal status, the normal one done,
and nothing large may reach the manifest or the events."""

import io
import json
import struct
import tarfile
import zipfile

import pytest
from arq.constants import retry_key_prefix

from tests.integration.test_ingestion_processing import burst, metadata, upload

LIMIT = "DEPOT_PARSE_MAX_DEPTH"


def nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + closing * depth


def pax_tgz(name_length: int) -> bytes:
    """A gzipped tar whose one member has a pax ``path`` record of ``name_length`` characters."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("n" * name_length)
        info.size = 1
        archive.addfile(info, io.BytesIO(b"1"))
    return out.getvalue()


def lying_zip(entries: int) -> bytes:
    """A ZIP whose end record says 1 entry while its central directory holds ``entries``."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("a.txt", b"hello")
    data = raw.getvalue()
    end = data.rindex(b"PK\x05\x06")
    start = struct.unpack_from("<L", data, end + 16)[0]
    header = data[start:end]
    return (
        data[:start]
        + header * entries
        + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(header) * entries, start, 0)
    )


# name -> (content, extra form fields, worker settings, what the poison file ends as)
POISON = {
    "deep.json": (nested(b"[", b"]", 5000), {}, {}, ("failed", "JSON nests deeper than 128 levels")),
    "deep.yaml": (nested(b"[", b"]", 3000), {}, {}, ("failed", "YAML nests deeper than 128 levels")),
    "deep.xml": (nested(b"<a>", b"</a>", 3000), {}, {}, ("failed", "XML nests deeper than 128 levels")),
    "long-pax.tgz": (pax_tgz(3 * 1024 * 1024), {}, {}, ("failed", "long-name record over 1048576 bytes")),
    "lying.zip": (
        lying_zip(20_000),
        {"category": "archive"},
        {"archive_max_entries": "1000"},
        ("failed", "more than 1000 members"),
    ),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_poison_file_fails_and_the_worker_goes_on(client, api, name):
    data, fields, worker_settings, (status, error) = POISON[name]
    poison = upload(client, name, data, **fields)
    normal = upload(client, "normal.json", b'{"fine": true}')
    burst(api.env, worker_max_jobs="1", **worker_settings)
    meta = metadata(client, poison["path"])
    assert meta["status"] == status and error in meta["error"], meta
    if "nests deeper" in error:
        assert LIMIT in meta["error"]  # the error names the setting to raise
    assert metadata(client, normal["path"])["status"] == "done"


def events_of(client, path: str) -> list[dict]:
    return [e for e in client.get("/api/v1/events", params={"limit": 1000}).json()["events"] if e["subject"] == path]


# name -> content whose summary would be huge: done, with a clipped and bounded summary
HUGE_SUMMARY = {
    "long-name.tgz": pax_tgz(200_000),  # under the meta record cap: the name is clipped
    "big-key.json": json.dumps({"k" * 2_000_000: 1}).encode(),
    "many-keys.json": json.dumps({f"{i}-" + "k" * 3000: i for i in range(100)}).encode(),
    "long-header.csv": (",".join(f"{i}-" + "h" * 3000 for i in range(100)) + "\n" + "1," * 99 + "1\n").encode(),
}


@pytest.mark.parametrize("name", sorted(HUGE_SUMMARY))
def test_summaries_are_clipped_and_bounded(client, api, name):
    file = upload(client, name, HUGE_SUMMARY[name])
    normal = upload(client, "normal.json", b'{"fine": true}')
    burst(api.env, worker_max_jobs="1")
    meta = metadata(client, file["path"])
    assert meta["status"] == "done", meta
    summary = meta["summary"]
    assert summary["truncated"] is True
    assert len(json.dumps(summary, ensure_ascii=False).encode()) <= 64 * 1024
    strings = summary.get("names") or summary.get("keys") or summary.get("header")
    assert strings and all(len(s) <= 1025 for s in strings), [len(s) for s in strings]
    processed = [e for e in events_of(client, file["path"]) if e["type"] == "io.depot.file.processed"]
    assert len(processed) == 1 and len(json.dumps(processed[0]).encode()) < 70 * 1024
    assert metadata(client, normal["path"])["status"] == "done"


def test_a_file_whose_parse_kept_killing_its_worker_is_failed_not_retried(client, api, redis_client):
    """Three tries died with their worker (OOM-killed, say): the next one fails the file unparsed."""
    poison = upload(client, "killer.json", b'{"a": 1}')
    normal = upload(client, "normal.json", b'{"fine": true}')
    redis_client.set(retry_key_prefix + f"process:{poison['path']}", 3)  # as arq counts tries
    burst(api.env, worker_max_jobs="1")
    meta = metadata(client, poison["path"])
    assert meta["status"] == "failed" and "worker stopped while parsing this file, 3 times" in meta["error"], meta
    assert [e["type"] for e in events_of(client, poison["path"])][-1] == "io.depot.file.failed"
    assert metadata(client, normal["path"])["status"] == "done"


def test_model_zip_lying_about_its_entry_count_is_refused_at_the_limit(client, s3, settings, redis_client):
    answer = client.post("/v1/upload/local", files={"file": ("models.zip", lying_zip(20_000), "application/zip")})
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"success": False, "error": "the archive has more than 10000 entries; the limit is 10000"}
    assert s3.list_objects_v2(Bucket=settings.bucket("models")).get("KeyCount", 0) == 0
    assert redis_client.keys("*models:claim:*") == []
    assert client.get("/health/live").status_code == 200
