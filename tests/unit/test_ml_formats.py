"""The ML formats at upload: extensions, the image category, and sniffing at both ends."""

import pytest

from service.domain.categories import Category, category_for, content_type_for
from service.domain.sniff import SNIFF_BYTES, Sniffer, check_content
from service.errors import InvalidInput
from tests.ml_samples import ML_GOOD, ML_MALFORMED


@pytest.mark.parametrize(
    "filename, category",
    [
        ("a.jsonl", "data"),
        ("a.NDJSON", "data"),
        ("t.parquet", "data"),
        ("c.arrow", "data"),
        ("f.feather", "data"),
        ("t.tsv", "data"),
        ("p.png", "image"),
        ("p.JPG", "image"),
        ("p.jpeg", "image"),
        ("p.webp", "image"),
    ],
)
def test_ml_extensions_have_their_category(filename, category):
    assert category_for(filename) == Category(category)
    assert category_for(filename, category) == Category(category)


def test_image_category_must_agree():
    with pytest.raises(InvalidInput, match="a .png file is 'image', not 'audio'"):
        category_for("cat.png", "audio")
    with pytest.raises(InvalidInput, match="not 'image'"):
        category_for("voice.wav", "image")


def test_content_types():
    assert content_type_for("a.parquet") == "application/vnd.apache.parquet"
    assert content_type_for("a.jpg") == content_type_for("a.jpeg") == "image/jpeg"
    assert content_type_for("a.tsv") == "text/tab-separated-values"


def sniff(name: str, data: bytes) -> None:
    sniffer = Sniffer(name)
    for start in range(0, len(data), 1000):  # in pieces, as an upload streams
        sniffer.feed(data[start : start + 1000])
    sniffer.finish(complete=True)


@pytest.mark.parametrize("name", sorted({**ML_GOOD, **ML_MALFORMED}))
def test_generated_samples_pass_the_sniff(name):
    data = {**ML_GOOD, **ML_MALFORMED}[name][0]
    sniff(name, data)
    check_content(name, data[:SNIFF_BYTES], complete=len(data) <= SNIFF_BYTES)


@pytest.mark.parametrize(
    "name, data, error",
    [
        ("t.parquet", b"PAR0" + b"\x00" * 20 + b"PAR1", "does not start with PAR1"),
        ("t.parquet", b"PAR1" + b"\x00" * 20, "does not end with PAR1"),
        ("t.parquet", b"PAR1" + b"\x00" * 5000 + b"PAR", "does not end with PAR1"),
        ("c.arrow", b"ARROW1" + b"\x00" * 20, "does not end with ARROW1"),
        ("c.feather", b"FEA1" + b"\x00" * 20 + b"FEA1", "does not start with ARROW1"),
        ("p.png", b"\xff\xd8\xff\xe0" + b"\x00" * 20, "not a PNG image"),
        ("p.jpg", b"\x89PNG\r\n\x1a\n", "not a JPG image"),
        ("p.webp", b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a WEBP image"),
        ("a.jsonl", b"<xml/>\n", "does not start like JSON"),
        ("a.ndjson", b"\x00\x01", "NUL bytes"),
        ("t.tsv", b"caf\xe9\tx", "not valid UTF-8"),
    ],
)
def test_mismatches_are_invalid_input(name, data, error):
    with pytest.raises(InvalidInput, match=error):
        sniff(name, data)


def test_the_tail_is_checked_once_the_file_is_complete():
    sniffer = Sniffer("t.parquet")
    sniffer.feed(b"PAR1" + b"\x00" * SNIFF_BYTES)  # the head passes at once
    sniffer.feed(b"PA")
    sniffer.feed(b"R1")  # the closing magic split across two chunks
    sniffer.finish(complete=True)
    unfinished = Sniffer("t.parquet")
    unfinished.feed(b"PAR1" + b"\x00" * SNIFF_BYTES)
    with pytest.raises(InvalidInput, match="not a complete parquet file"):
        unfinished.finish(complete=True)
