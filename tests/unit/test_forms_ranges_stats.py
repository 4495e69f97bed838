import pytest

from service.domain.forms import UploadForm, parse_metadata
from service.domain.ranges import parse_range
from service.errors import InvalidInput, RangeNotSatisfiable
from service.storage.index import build_stats


def form() -> UploadForm:
    return UploadForm(max_description_length=20, max_metadata_bytes=64)


@pytest.mark.parametrize("raw", ["[1,2]", '"s"', "3", "null", "{bad", "true"])
def test_metadata_must_be_a_json_object(raw):
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_metadata(raw, 1000)


def test_metadata_size_is_bounded():
    with pytest.raises(InvalidInput, match="larger than"):
        parse_metadata('{"a": "' + "x" * 100 + '"}', 64)
    assert parse_metadata('{"source": "prod"}', 64) == {"source": "prod"}
    assert parse_metadata("", 64) == {}


def test_form_rejects_unknown_duplicate_and_bad_fields_at_once():
    f = form()
    with pytest.raises(InvalidInput, match="unknown form field"):
        f.add("hash", "forged")
    f.add("purpose", "training")
    with pytest.raises(InvalidInput, match="twice"):
        f.add("purpose", "training")
    with pytest.raises(InvalidInput, match="description longer"):
        f.add("description", "x" * 21)
    with pytest.raises(InvalidInput, match="unknown category"):
        form().add("category", "a/b")


@pytest.mark.parametrize(
    "header, size, expected",
    [(None, 10, None), ("bytes=0-0", 10, (0, 0)), ("bytes=2-", 10, (2, 9)), ("bytes=-3", 10, (7, 9)),
     ("bytes=5-100", 10, (5, 9)), ("bytes=-100", 10, (0, 9)), ("items=0-1", 10, None),
     ("bytes=0-1,3-4", 10, None), ("bytes=-", 10, None)],
)
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header, size", [("bytes=10-", 10), ("bytes=5-2", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable_ranges(header, size):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_stats_shape_matches_the_contract():
    stats = build_stats({
        "ingestion:data:count": "10", "ingestion:data:size": "5242880",
        "ingestion:text:count": "5", "ingestion:text:size": "1048576",
        "training:audio:count": "8", "training:audio:size": "3670016",
        "training:text:count": "2", "training:text:size": "524288",
        "training:data:count": "0", "training:data:size": "0",
    })
    assert stats == {
        "total_files": 25, "total_size": 10485760,
        "by_purpose": {
            "ingestion": {"count": 15, "size": 6291456, "by_category": {
                "data": {"count": 10, "size": 5242880}, "text": {"count": 5, "size": 1048576}}},
            "training": {"count": 10, "size": 4194304, "by_category": {
                "audio": {"count": 8, "size": 3670016}, "text": {"count": 2, "size": 524288}}},
        },
        "by_category": {"data": {"count": 10, "size": 5242880}, "text": {"count": 7, "size": 1572864},
                        "audio": {"count": 8, "size": 3670016}},
    }


def test_empty_stats_still_name_both_purposes():
    stats = build_stats({})
    assert stats["total_files"] == 0 and set(stats["by_purpose"]) == {"training", "ingestion"}
