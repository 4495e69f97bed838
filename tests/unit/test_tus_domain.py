"""tus header parsing, Repr-Digest and the resumable SHA-256 (no servers)."""

import base64
import hashlib
import os
import pickle

import pytest

from service.domain.digest import parse_repr_digest, repr_digest
from service.domain.sha256state import Sha256State
from service.domain.tus import parse_checksum, parse_number, parse_upload_metadata, single
from service.errors import InvalidInput


def test_sha256_state_resumes_in_a_fresh_object_at_any_cut():
    data = os.urandom(300_001)
    for cut in (0, 1, 63, 64, 65, 4096, 299_999, 300_001):
        first = Sha256State()
        first.update(data[:cut])
        saved = pickle.loads(pickle.dumps(first.state))  # bytes: through Redis as they are
        second = Sha256State(saved)
        second.update(data[cut:])
        assert second.hexdigest() == hashlib.sha256(data).hexdigest()
    assert Sha256State().hexdigest() == hashlib.sha256(b"").hexdigest()


def test_digest_does_not_end_the_hash():
    h = Sha256State()
    h.update(b"ab")
    assert h.hexdigest() == hashlib.sha256(b"ab").hexdigest()
    h.update(b"c")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()


def test_a_foreign_state_is_refused():
    with pytest.raises(ValueError):
        Sha256State(b"\x00" * 10)


@pytest.mark.parametrize("raw", ["-1", "+1", "1.0", "1e3", " ", "", "١٢", "9" * 20, str(2**63)])
def test_numbers_are_strict(raw):
    with pytest.raises(InvalidInput):
        parse_number(raw, "Upload-Length")


def test_numbers():
    assert parse_number("0", "x") == 0 and parse_number(str(2**63 - 1), "x") == 2**63 - 1
    assert parse_number(None, "x") is None
    with pytest.raises(InvalidInput):
        single(["1", "2"], "Upload-Offset")


def test_upload_metadata():
    enc = lambda v: base64.b64encode(v.encode()).decode()  # noqa: E731
    assert parse_upload_metadata(f"filename {enc('ä.csv')},purpose {enc('training')},filetype {enc('text/csv')}") == {
        "filename": "ä.csv",
        "purpose": "training",
    }
    assert parse_upload_metadata(f"name {enc('a.csv')}") == {"filename": "a.csv"}  # Uppy
    assert parse_upload_metadata("description") == {"description": ""}  # a key without value
    for bad in (
        "filename ***",
        f"filename {enc('a')},filename {enc('b')}",
        f"bad key {enc('x')}",
        f"colour {enc('red')}",
        "filename " + base64.b64encode(b"\xff\xfe").decode(),
    ):
        with pytest.raises(InvalidInput):
            parse_upload_metadata(bad)


def test_checksum_header():
    digest = hashlib.md5(b"x").digest()
    assert parse_checksum("md5 " + base64.b64encode(digest).decode()) == ("md5", digest)
    for bad in ("md5", "crc32 AAAA", "sha1 " + base64.b64encode(digest).decode(), "sha256 @@@"):
        with pytest.raises(InvalidInput):
            parse_checksum(bad)


def test_repr_digest_round_trip():
    hexdigest = hashlib.sha256(b"x").hexdigest()
    assert parse_repr_digest(repr_digest(hexdigest)) == hexdigest
    assert parse_repr_digest("md5=:AAAA:, " + repr_digest(hexdigest)) == hexdigest  # other algorithms ignored
    for bad in ("sha-256=abc", "sha-256=:!!:", "md5=:AAAA:", "sha-256=:" + base64.b64encode(b"1").decode() + ":"):
        with pytest.raises(InvalidInput):
            parse_repr_digest(bad)
