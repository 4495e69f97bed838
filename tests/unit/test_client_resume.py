"""The client's record of unfinished tus uploads, its tus metadata and its SHA-256 checks (no servers)."""

import hashlib
import stat
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.client.commands import tus_options
from service.client.errors import ClientError
from service.client.integrity import announced_sha256, verify
from service.client.resume import Pending, ResumeStore, key_fingerprint, record_key
from service.client.tus import _Transfer, upload_metadata
from service.domain.digest import repr_digest
from service.domain.tus import parse_upload_metadata

HASH = "ab" * 32


def pending(url: str = "http://depot/api/v1/data/tus/1", expires: float | None = None) -> Pending:
    return Pending(url, HASH, 123, "/data/big.csv", time.time(), expires or time.time() + 3600)


def test_put_get_remove_and_the_file_is_private(tmp_path: Path):
    store = ResumeStore(tmp_path / "state" / "uploads.json")
    assert store.get("k") is None  # no file yet
    store.put("k", pending())
    assert store.get("k").upload_url.endswith("/tus/1") and store.get("k").sha256 == HASH
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600  # upload URLs are the key's business
    store.remove("k")
    assert store.get("k") is None and store.entries() == {}


def test_expired_entries_are_dropped_on_the_next_write(tmp_path: Path):
    store = ResumeStore(tmp_path / "uploads.json")
    store.put("old", pending(expires=time.time() - 1))
    store.put("new", pending())
    assert set(store.entries()) == {"new"}


def test_a_damaged_or_foreign_file_means_nothing_to_resume(tmp_path: Path):
    store = ResumeStore(tmp_path / "uploads.json")
    store.path.write_text("{not json")
    assert store.get("k") is None
    store.put("k", pending())  # and it is replaced, not a reason to fail
    assert store.get("k") is not None
    store.path.write_text('{"k": {"upload_url": "x", "other": 1}}')  # another version's shape
    assert store.get("k") is None


def test_the_key_changes_with_server_key_path_size_and_mtime(tmp_path: Path):
    path = tmp_path / "a.csv"
    base = record_key("http://depot:8080", key_fingerprint("k1"), path, 10, 1)
    assert base == record_key("http://depot:8080/", key_fingerprint("k1"), path, 10, 1)
    others = {
        record_key("http://other:8080", key_fingerprint("k1"), path, 10, 1),
        record_key("http://depot:8080", key_fingerprint("k2"), path, 10, 1),
        record_key("http://depot:8080", key_fingerprint(None), path, 10, 1),
        record_key("http://depot:8080", key_fingerprint("k1"), tmp_path / "b.csv", 10, 1),
        record_key("http://depot:8080", key_fingerprint("k1"), path, 11, 1),
        record_key("http://depot:8080", key_fingerprint("k1"), path, 10, 2),
    }
    assert base not in others and len(others) == 6
    assert "k1" not in key_fingerprint("k1") and len(key_fingerprint("k1")) == 16  # never the key itself


def test_parallel_writers_lose_no_entry(tmp_path: Path):
    store = ResumeStore(tmp_path / "uploads.json")
    threads = [threading.Thread(target=store.put, args=(f"k{i}", pending(f"u{i}"))) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {k: p.upload_url for k, p in store.entries().items()} == {f"k{i}": f"u{i}" for i in range(16)}


def test_upload_metadata_is_what_the_server_parses():
    fields = {"purpose": "training", "description": "zoë, two words", "metadata": '{"run": 7}'}
    assert parse_upload_metadata(upload_metadata(fields, "big data.csv")) == {"filename": "big data.csv", **fields}


def test_sha256_checks():
    verify(HASH, HASH.upper(), "x")
    with pytest.raises(ClientError, match="SHA-256 mismatch"):
        verify(HASH, "cd" * 32, "x")
    with pytest.raises(ClientError, match="did not name"):
        verify(HASH, None, "x")
    assert announced_sha256({"repr-digest": repr_digest(HASH), "x-checksum-sha256": "ignored"}) == HASH
    assert announced_sha256({"x-checksum-sha256": HASH}) == HASH
    assert announced_sha256({}) is None
    with pytest.raises(ClientError, match="malformed Repr-Digest"):
        announced_sha256({"repr-digest": "sha-256=:not base64:"})


def test_tus_options_parse_sizes_and_bound_the_chunk():
    assert tus_options("32M", "8M").threshold == 32 * 1024**2
    assert tus_options("0", "1MiB").chunk_size == 1024**2
    for threshold, chunk in (("-1", "8M"), ("32M", "1K"), ("32M", "2G"), ("lots", "8M")):
        with pytest.raises(ClientError):
            tus_options(threshold, chunk)


def test_the_running_hash_follows_the_server_offset_wherever_it_lands(tmp_path: Path):
    """A server may keep a whole chunk, part of one, or (another client) more: the running hash
    must always cover exactly the bytes the server has, or the last-chunk check would misfire."""
    data = bytes(range(256)) * 40
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    client = SimpleNamespace(http=None, base_url="http://depot", key_fingerprint="-")
    sender = SimpleNamespace(client=client)
    positions: list[int] = []
    meter = SimpleNamespace(start=positions.append, at=positions.append)
    transfer = _Transfer(sender, path, len(data), hashlib.sha256(data).hexdigest(), "k", meter)
    with path.open("rb") as handle:
        for reached in (1000, 1500, 4000, 3000, len(data)):  # whole, part, beyond the chunk, backwards
            chunk = data[transfer.position : transfer.position + 1000]
            after = transfer.hasher.copy()
            after.update(chunk)
            transfer.advance(handle, reached, chunk, after)
            assert transfer.hasher.hexdigest() == hashlib.sha256(data[:reached]).hexdigest()
    assert positions == [1000, 1500, 4000, 3000, len(data)]
