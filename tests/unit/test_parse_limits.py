"""Parse limits on hostile shapes (issue 12, items 4-7) without servers: nesting depth from
events, strings clipped, results bounded, tar meta records and ZIP entry counts checked before
the libraries build anything. Memory is measured with tracemalloc, never time."""

import asyncio
import io
import tarfile
import tracemalloc

import pytest

from service.domain.zipdir import count_entries
from service.errors import InvalidInput
from service.settings import Settings
from service.upstreams import zip_archive as zipimport
from service.workers.parsers import ParseError, _parser_for
from service.workers.parsers.bounds import ParseLimits, bound
from tests.integration.test_poison_pills import lying_zip, nested, pax_tgz

MIB = 1024 * 1024


def parse(name: str, data: bytes, **settings) -> dict:
    ext = "." + name.rsplit(".", 1)[1]
    _, run = _parser_for(ext, len(data), Settings(**settings))
    return run(io.BufferedReader(io.BytesIO(data)))


def peak_of(call) -> int:
    """Peak bytes allocated while ``call`` runs (its input was allocated before)."""
    tracemalloc.start()
    try:
        call()
    except (ParseError, InvalidInput):
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    "name,data",
    [
        ("deep.json", nested(b"[", b"]", 5000)),
        ("open.json", b"[" * 100_000),  # the report's shape: only opening brackets
        ("deep.yaml", nested(b"[", b"]", 3000)),
        ("deep.xml", nested(b"<a>", b"</a>", 3000)),
    ],
)
def test_nesting_deeper_than_the_limit_fails_naming_it(name, data):
    kind = name.rsplit(".", 1)[1].upper()
    with pytest.raises(ParseError, match=f"{kind} nests deeper than 128 levels .*DEPOT_PARSE_MAX_DEPTH"):
        parse(name, data)
    with pytest.raises(ParseError, match="deeper than 10 levels"):
        parse(name, data, parse_max_depth=10)


def test_nesting_at_the_limit_parses():
    assert parse("ok.json", nested(b"[", b"]", 128))["root"] == "array"
    assert parse("ok.yaml", nested(b"[", b"]", 128))["documents"] == 1
    assert parse("ok.xml", nested(b"<a>", b"</a>", 128))["elements"] == 128


def test_deep_json_is_failed_in_small_memory():
    data = nested(b"[", b"]", 5000)  # the old path-building parser peaked near 100 MB here
    assert peak_of(lambda: parse("deep.json", data)) < 4 * MIB


def test_json_keys_are_clipped_as_they_are_read():
    summary = parse("key.json", b'{"' + b"k" * 2_000_000 + b'": 1, "b": 2}')
    assert summary["keys"] == ["k" * 1024 + "…", "b"]
    lines = parse("lines.json", b'{"a": 1}\n[{"z": 1}, 3]\n')
    assert lines == {"format": "json", "root": "lines", "records": 2, "keys": ["a", "z"]}


def test_results_are_trimmed_to_the_cap_and_flagged():
    limits = ParseLimits(max_string=1024, max_result=64 * 1024)
    small = bound({"format": "x", "keys": ["a", "b"]}, limits)
    assert small == {"format": "x", "keys": ["a", "b"]}  # nothing cut: no flag
    big = bound({"format": "x", "keys": [f"{i}" + "k" * 3000 for i in range(100)], "names": ["n"]}, limits)
    assert big["truncated"] is True and big["names"] == ["n"] and 0 < len(big["keys"]) < 100
    assert all(len(k) == 1025 for k in big["keys"]) and len(str(big).encode()) <= 64 * 1024 + 1024
    with pytest.raises(ParseError, match="summary is larger than 1024 bytes"):
        bound({f"field{i}": "v" * 100 for i in range(20)}, ParseLimits(max_result=1024))


def test_error_messages_are_capped():
    assert len(ParseError("x" * 100_000).message) == 1025


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_oversized_tar_name_records_fail_before_they_are_read(fmt):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", format=fmt) as archive:
        info = tarfile.TarInfo("n" * (3 * MIB))
        info.size = 0
        archive.addfile(info)
    data = out.getvalue()
    assert len(data) < 100_000
    with pytest.raises(ParseError, match="long-name record over 1048576 bytes"):
        parse("long.tgz", data)
    assert peak_of(lambda: parse("long.tgz", data)) < 2 * MIB  # tarfile would have read 3 MiB


def test_tar_names_under_the_record_cap_are_clipped():
    summary = parse("name.tgz", pax_tgz(200_000))
    assert summary["names"] == ["n" * 1024 + "…"]


def test_lying_zip_is_refused_by_the_ingestion_parser_in_small_memory():
    data = lying_zip(100_000)  # the end record claims 1 entry
    with pytest.raises(ParseError, match="more than 1000 members"):
        parse("lying.zip", data, archive_max_entries=1000)
    assert peak_of(lambda: parse("lying.zip", data, archive_max_entries=1000)) < 2 * MIB


class BytesStore:
    """Ranged reads over bytes in memory (the S3 path: tests/integration/test_poison_pills.py)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return self.data[start : end + 1]


def test_lying_zip_is_refused_by_the_model_import_vetting_in_small_memory():
    data = lying_zip(100_000)
    settings = Settings(model_zip_max_entries=1000)

    def vet() -> None:
        asyncio.run(zipimport.read_directory(BytesStore(data), "b", "k", len(data), settings))

    with pytest.raises(InvalidInput, match="more than 1000 entries"):
        vet()
    # walked piece by piece up to the limit: neither the directory's 4.9 MB nor 100,000 ZipInfos
    assert peak_of(vet) < 2 * MIB


def test_count_entries_walks_headers_and_stops_past_the_limit():
    data = lying_zip(50)
    start = data.index(b"PK\x01\x02")
    size = data.rindex(b"PK\x05\x06") - start
    stream = io.BytesIO(data)
    stream.seek(start)
    assert count_entries(stream, size, 1000) == 50
    stream.seek(start)
    assert count_entries(stream, size, 10) == 11
    stream.seek(start + 46)  # not at a header
    with pytest.raises(ValueError, match="bad entry header"):
        count_entries(stream, size - 46, 1000)


@pytest.mark.parametrize("prefix,zip64", [(b"", True), (b"#!/bin/sh\nexit 0\n" * 50, False)])
def test_zip_entry_walk_finds_the_directory_of_zip64_and_prefixed_archives(prefix, zip64):
    from tests.unit.test_models_zipdir import make

    data = make({"m/a.txt": b"a" * 100, "m/b.txt": b"b"}, prefix, zip64)
    assert parse("ok.zip", data)["files"] == 2
    with pytest.raises(ParseError, match="more than 1 members"):
        parse("ok.zip", data, archive_max_entries=1)
