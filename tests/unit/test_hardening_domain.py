"""Issue 12 without servers: full-match validators, If-None-Match parsing, finite JSON numbers,
purpose-bound stats and the one-value-per-query-parameter guard."""

import json

import pytest
from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.testing import TestClient

from service.api.auth import _PUBLIC, ADMIN_PATHS
from service.api.errors import EXCEPTION_HANDLERS
from service.api.query import refuse_repeated_query
from service.domain.apikeys import entry_for, hash_key, parse_keys
from service.domain.categories import Purpose
from service.domain.conditional import entity_tags, none_match
from service.domain.forms import loads_strict, parse_metadata
from service.domain.models import (
    check_github,
    check_hf_repo,
    check_local_name,
    check_revision,
    is_commit,
    is_task_id,
    parse_model_id,
)
from service.domain.naming import parse_file_path
from service.domain.ranges import parse_range
from service.errors import Forbidden, InvalidInput, RequestTimeout
from service.storage.events import check_stream_id
from service.storage.index import build_stats

NEWLINES = ["\n", "\r\n"]


@pytest.mark.parametrize("tail", NEWLINES)
@pytest.mark.parametrize(
    "check",
    [
        lambda t: check_hf_repo("acme/tiny-bert" + t),
        lambda t: check_hf_repo("tiny" + t),
        lambda t: check_github("acme" + t, "repo"),
        lambda t: check_github("acme", "repo" + t),
        lambda t: check_revision("main" + t),
        lambda t: check_revision("refs/pr/1" + t),
        lambda t: check_local_name("m" + t),
        lambda t: parse_model_id("local/m" + t + "@main"),
        lambda t: check_stream_id("1-0" + t),
        lambda t: check_stream_id("1" + t),
    ],
    ids=[
        "hf-tag",
        "hf-name",
        "gh-owner",
        "gh-repo",
        "revision",
        "revision-path",
        "local-name",
        "model-id",
        "stream-id",
        "stream-ms",
    ],
)
def test_a_trailing_newline_fails_every_name_check(check, tail):
    with pytest.raises(InvalidInput):
        check(tail)
    check("")  # the same value without the newline passes


def test_ids_paths_keys_and_ranges_match_whole_strings():
    assert is_task_id("0" * 32) and not is_task_id("0" * 32 + "\n")
    assert is_commit("a" * 40) and not is_commit("a" * 40 + "\n")
    assert parse_file_path("training/text/a_20260101_000000_abcdef12.txt")[2].endswith(".txt")
    with pytest.raises(Forbidden):
        parse_file_path("training/text/a_20260101_000000_abcdef12.txt\n")
    good = entry_for("ci", hash_key("dpk_x"), ["read"], None)
    assert parse_keys(json.dumps([good]))
    for broken in ({**good, "name": "ci\n"}, {**good, "hash": good["hash"] + "\n"}):
        with pytest.raises(ValueError):
            parse_keys(json.dumps([broken]))
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=0-9\n", 100) is None
    assert parse_range("bytes=\u0661-\u0669", 100) is None  # Unicode digits are not HTTP digits
    with pytest.raises(InvalidInput):
        check_stream_id("\u0661-0")


def test_public_and_admin_paths_end_at_the_real_end():
    assert _PUBLIC.search("/health/live") and _PUBLIC.search("/health")
    assert not _PUBLIC.search("/health\n") and not _PUBLIC.search("/metrics\n")
    assert ADMIN_PATHS.search("/api/v1/events") and ADMIN_PATHS.search("/api/v1/events/schemas")
    assert not ADMIN_PATHS.search("/api/v1/eventsx")


@pytest.mark.parametrize(
    "values,expected",
    [
        (['"a"'], ["a"]),
        (['W/"a"'], ["a"]),
        (['"a", W/"b"'], ["a", "b"]),
        (['"a"', 'W/"b"'], ["a", "b"]),
        (['"a,b"'], ["a,b"]),
        (["*"], ["*"]),
        ([" * "], ["*"]),
        ([', "a",,'], ["a"]),
        ([""], []),
        (["a"], None),
        (['"a" "b"'], None),
        (['"a'], None),
        (['*, "a"'], None),
        (["W/*"], None),
    ],
)
def test_entity_tag_lists(values, expected):
    assert entity_tags(values) == expected


def test_none_match_uses_the_weak_comparison():
    etag = '"abc"'
    assert none_match(['W/"abc"'], etag) and none_match(['"abc"'], etag) and none_match(["*"], etag)
    assert none_match(['"x"', '"abc"'], etag)
    assert not none_match([], etag) and not none_match(['"abcd"'], etag) and not none_match(["abc"], etag)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", '{"a": [NaN]}'])
def test_non_finite_numbers_are_refused(raw):
    with pytest.raises(InvalidInput, match="finite"):
        loads_strict(raw)
    with pytest.raises(InvalidInput, match="finite"):
        parse_metadata('{"v": ' + raw + "}", 10_000)


def test_finite_numbers_and_huge_integers():
    assert parse_metadata('{"a": 1e308, "b": -2.5, "c": 10}', 10_000) == {"a": 1e308, "b": -2.5, "c": 10}
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_metadata('{"a": ' + "9" * 5000 + "}", 100_000)  # over Python's integer digit limit: a 400
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_metadata("[" * 5000 + "]" * 5000, 100_000)


def test_stats_of_one_purpose_zero_the_other():
    counters = {
        "training:text:count": "2",
        "training:text:size": "10",
        "ingestion:text:count": "1",
        "ingestion:text:size": "7",
        "ingestion:audio:count": "1",
        "ingestion:audio:size": "100",
    }
    everything = build_stats(counters)
    assert everything["total_files"] == 4 and set(everything["by_category"]) == {"text", "audio"}
    mine = build_stats(counters, Purpose("training"))
    assert mine == {
        "total_files": 2,
        "total_size": 10,
        "by_purpose": {
            "training": {"count": 2, "size": 10, "by_category": {"text": {"count": 2, "size": 10}}},
            "ingestion": {"count": 0, "size": 0, "by_category": {}},
        },
        "by_category": {"text": {"count": 2, "size": 10}},
    }
    assert set(mine) == set(everything) and set(mine["by_purpose"]) == set(everything["by_purpose"])


@get("/one", sync_to_thread=False)
def one(name: FromQuery[str] = "x") -> str:
    return name


@get("/many", sync_to_thread=False)
def many(tag: FromQuery[list[str]]) -> str:
    return ",".join(tag)


def test_the_guard_refuses_repeats_of_single_values_only():
    app = Litestar([one, many], guards=[refuse_repeated_query], exception_handlers=EXCEPTION_HANDLERS)
    with TestClient(app) as client:
        assert client.get("/one?name=a").text == "a"
        refused = client.get("/one?name=a&name=b")
        assert refused.status_code == 400 and "'name' given more than once" in refused.json()["error"]
        assert client.get("/one?name=a&%6eame=b").status_code == 400  # the same name, percent-encoded
        assert client.get("/one?other=1&other=2").status_code == 400  # undeclared ones too
        assert client.get("/many?tag=a&tag=b").text == "a,b"  # a list parameter may repeat


@pytest.mark.parametrize(
    "error,status,header",
    [
        (InvalidInput("bad"), 400, None),
        (Forbidden("no"), 403, None),
        (RequestTimeout("stalled"), 408, ("connection", "close")),
    ],
)
def test_errors_map_to_json_with_their_status(error, status, header):
    @get("/fail", sync_to_thread=False)
    def fail() -> None:
        raise error

    with TestClient(Litestar([fail], exception_handlers=EXCEPTION_HANDLERS)) as client:
        response = client.get("/fail")
    assert response.status_code == status and response.json() == {"success": False, "error": error.message}
    if header:
        assert response.headers[header[0]] == header[1]
