"""The ML data parsers (JSONL, TSV, Parquet, Arrow IPC, images) on generated samples, good and malformed."""

import io

import pytest

from service.settings import Settings
from service.workers.parsers import ParseError, _parser_for
from service.workers.parsers.image import image_summary
from service.workers.parsers.jsonl import jsonl_summary
from tests.ml_samples import ML_GOOD, ML_MALFORMED, image, jsonl


def parse(name: str, data: bytes) -> dict:
    ext = "." + name.rsplit(".", 1)[1]
    _, run = _parser_for(ext, len(data), Settings())
    return run(io.BufferedReader(io.BytesIO(data)))


@pytest.mark.parametrize("name", sorted(ML_GOOD))
def test_good_samples_are_summarised(name):
    data, expected = ML_GOOD[name]
    summary = parse(name, data)
    assert {k: summary[k] for k in expected} == expected, summary


@pytest.mark.parametrize("name", sorted(ML_MALFORMED))
def test_malformed_samples_fail_with_a_useful_error(name):
    data, words = ML_MALFORMED[name]
    with pytest.raises(ParseError) as caught:
        parse(name, data)
    assert words in caught.value.message, caught.value.message


def test_parquet_sizes_come_from_the_footer():
    summary = parse("t.parquet", ML_GOOD["train.parquet"][0])
    assert 0 < summary["compressed_size"] and 0 < summary["uncompressed_size"]
    assert summary["created_by"].startswith("parquet-cpp")


def test_jsonl_line_longer_than_the_cap_fails(monkeypatch):
    monkeypatch.setattr("service.workers.parsers.jsonl.MAX_LINE", 100)
    with pytest.raises(ParseError, match="line 2 is longer than 100 bytes"):
        jsonl_summary(io.BytesIO(b'{"a": 1}\n"' + b"x" * 200 + b'"\n'))


def test_jsonl_without_records_fails_and_role_names_are_capped():
    with pytest.raises(ParseError, match="no record"):
        jsonl_summary(io.BytesIO(b"\n  \n"))
    many = [{"messages": [{"role": f"r{i}" + "x" * 100, "content": "c"}]} for i in range(30)]
    roles = jsonl_summary(io.BytesIO(jsonl(many)))["roles"]
    assert len(roles) == 21 and roles["(other)"] == 10 and max(map(len, roles)) == 64


def test_jsonl_records_obey_the_depth_limit():
    """DEPOT_PARSE_MAX_DEPTH holds for JSON Lines as for JSON: the summary table passes it in."""
    limit = Settings().parse_max_depth
    ok = b'{"a": 1}\n' + b"[" * limit + b"]" * limit + b"\n"
    assert parse("ok.jsonl", ok)["records"] == 2
    deep = b'{"a": 1}\n{"b": ' + b"[" * limit + b"]" * limit + b"}\n"
    with pytest.raises(ParseError, match=rf"line 2\) nests deeper than {limit} levels"):
        parse("deep.jsonl", deep)
    wide = b"[" + b",".join([b"[]"] * (limit * 2)) + b"]\n"  # many brackets, depth 2: walked, accepted
    assert parse("wide.ndjson", wide)["records"] == 1


def test_image_pixel_limit_is_ours_to_set():
    with pytest.raises(ParseError, match="more than the limit of 100"):
        image_summary(io.BytesIO(image("PNG", (11, 10))), ".png", max_pixels=100)
    assert image_summary(io.BytesIO(image("PNG", (10, 10))), ".png", max_pixels=100)["width"] == 10


def test_image_of_another_format_than_its_name_fails():
    with pytest.raises(ParseError, match="unreadable PNG image"):
        parse("fake.png", image("JPEG"))
