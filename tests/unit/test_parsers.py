"""Every ingestion parser on real small samples, good and malformed (file objects, no servers)."""

import io
import zipfile

import pytest

from service.settings import Settings
from service.workers.parsers import ParseError, _parser_for
from tests.samples import GOOD, MALFORMED, zip_archive


def parse(name: str, data: bytes, **settings) -> dict:
    ext = "." + name.rsplit(".", 1)[1]
    _, run = _parser_for(ext, len(data), Settings(**settings))
    return run(io.BufferedReader(io.BytesIO(data)))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_samples_are_summarised(name):
    data, expected = GOOD[name]
    summary = parse(name, data)
    assert {k: summary[k] for k in expected} == expected, summary


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_samples_fail_with_a_useful_error(name):
    data, words = MALFORMED[name]
    with pytest.raises(ParseError) as caught:
        parse(name, data)
    assert words in caught.value.message, caught.value.message


def test_zip_bomb_limits_fail_before_extracting():
    bomb = zip_archive({"zeros.bin": b"\x00" * 2_000_000})
    with pytest.raises(ParseError, match="expands more than 50x"):
        parse("bomb.zip", bomb, archive_max_ratio=50)
    with pytest.raises(ParseError, match="more than 2 members"):
        parse("many.zip", zip_archive({"a": b"1", "b": b"2"}), archive_max_entries=2)
    with pytest.raises(ParseError, match="unpacks to more than 100 bytes"):
        parse("big.zip", zip_archive({"a": b"1" * 101}, zipfile.ZIP_STORED), archive_max_unpacked=100)


def test_unsafe_member_names_are_counted_not_extracted():
    summary = parse("evil.zip", zip_archive({"../../etc/passwd": b"x", "/abs": b"y", "ok": b"z"}))
    assert summary["unsafe_names"] == 2 and summary["members"] == 4


def test_xml_doctype_is_refused():
    with pytest.raises(ParseError, match="DOCTYPE"):
        parse("lol.xml", b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><l>&a;</l>')


def test_text_words_split_across_pieces_are_counted_once():
    data = b"word " * 30000 + b"x" * 70000 + b" end"
    summary = parse("long.txt", data)
    assert summary["words"] == 30002 and summary["lines"] == 1


def test_json_lines_and_scalars():
    assert parse("lines.json", b'{"a": 1}\n{"b": 2}\n')["records"] == 2
    assert parse("one.json", b'{"a": 1, "b": {"c": 2}}') == {"format": "json", "root": "object", "records": 1,
                                                              "keys": ["a", "b"]}
    with pytest.raises(ParseError, match="invalid JSON"):
        parse("empty.json", b"  ")
