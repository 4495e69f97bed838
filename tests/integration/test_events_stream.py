"""``GET /api/v1/events/stream`` read by an SSE client we did not write (httpx-sse): a file followed
from upload to done across a reconnect with ``Last-Event-ID``, API-key scopes and filters, the
bound on open streams, and a clean end on shutdown."""

import json
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, connect_sse

from tests.integration.test_auth import assert_error, bearer, keys_config
from tests.integration.test_ingestion_events import worker
from tests.support import ApiServer, start_api

STREAM = "/api/v1/events/stream"


def data(source: EventSource) -> Iterator[ServerSentEvent]:
    """The events of a stream, after checking its opening message (a ``retry`` hint, no data)."""
    messages = source.iter_sse()
    hello = next(messages)
    assert hello.retry == 3000 and hello.data == ""
    yield from (m for m in messages if m.data)


def upload(http: httpx.Client, name: str, purpose: str = "ingestion", **headers: str) -> dict:
    response = http.post(
        "/api/v1/data/upload", files={"file": (name, b"a,b\n1,2\n")}, data={"purpose": purpose}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["file"]


def test_a_file_is_followed_to_done_across_a_reconnect_without_a_gap(client, api):
    with connect_sse(client, "GET", STREAM) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = data(source)
        file = upload(client, "rows.csv")
        first = next(events)  # the upload, live; then the client goes away
    worker(api.env)  # processing and done happen while nobody listens
    received = [first]
    with connect_sse(client, "GET", STREAM, headers={"Last-Event-ID": first.id}) as source:
        for message in data(source):
            received.append(message)
            if json.loads(message.data)["type"] == "io.depot.file.processed":
                break
    cloud = [json.loads(m.data) for m in received]
    assert [e["type"] for e in cloud] == [
        "io.depot.file.uploaded",
        "io.depot.file.processing",
        "io.depot.file.processed",
    ]
    assert {e["subject"] for e in cloud} == {file["path"]}
    stored = client.get("/api/v1/events").json()["events"]
    assert [m.id for m in received] == [e["id"] for e in stored] == [e["id"] for e in cloud]  # no gap, no repeat
    meta = client.get(f"/api/v1/data/files/{file['path']}", params={"metadata": "true"}).json()["metadata"]
    assert meta["status"] == "done"


@pytest.fixture(scope="module")
def stream_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("stream-api"),
        api_keys=keys_config(),
        events_streams_per_key="2",
        events_heartbeat="0.5",
        rate_limit_per_minute="0",
    )
    yield server
    server.stop()


@pytest.fixture
def http(stream_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stream_api.url, timeout=60) as client:
        yield client


def test_a_purpose_bound_key_sees_only_its_purpose(http):
    assert_error(http.get(STREAM, params={"purpose": "ingestion"}, headers=bearer("trainer")), 403)
    assert_error(http.get(STREAM), 401)
    with connect_sse(http, "GET", STREAM, headers=bearer("trainer")) as source:
        events = data(source)
        upload(http, "other.csv", "ingestion", **bearer("writer"))
        mine = upload(http, "mine.csv", "training", **bearer("writer"))
        assert json.loads(next(events).data)["subject"] == mine["path"]  # the ingestion upload was never sent
    page = http.get("/api/v1/events", headers=bearer("trainer")).json()["events"]
    assert [e["subject"] for e in page] == [mine["path"]]
    assert len(http.get("/api/v1/events", headers=bearer("reader")).json()["events"]) == 2


def test_type_filter_and_bad_ids_or_types_are_400(http):
    assert_error(http.get(STREAM, headers={**bearer("reader"), "Last-Event-ID": "nope"}), 400)
    assert_error(http.get(STREAM, params={"type": "file.exploded"}, headers=bearer("reader")), 400)
    with connect_sse(http, "GET", STREAM, params={"type": "file.deleted"}, headers=bearer("reader")) as source:
        events = data(source)
        file = upload(http, "short-lived.csv", **bearer("writer"))
        assert http.delete(f"/api/v1/data/files/{file['path']}", headers=bearer("deleter")).status_code == 200
        deleted = json.loads(next(events).data)
    assert deleted["type"] == "io.depot.file.deleted" and deleted["subject"] == file["path"]


def test_type_may_repeat_while_other_parameters_may_not(http):
    """``?type=`` is a list, so the repeated-query guard lets it repeat; ``?after=`` stays single."""
    file = upload(http, "twice.csv", **bearer("writer"))
    assert http.delete(f"/api/v1/data/files/{file['path']}", headers=bearer("deleter")).status_code == 200
    wanted = [("type", "file.uploaded"), ("type", "io.depot.file.deleted")]
    response = http.get("/api/v1/events", params=wanted, headers=bearer("reader"))
    assert response.status_code == 200, response.text
    assert [e["type"] for e in response.json()["events"]] == ["io.depot.file.uploaded", "io.depot.file.deleted"]
    body = assert_error(
        http.get("/api/v1/events", params=[("after", "0"), ("after", "1")], headers=bearer("reader")), 400
    )
    assert "'after' given more than once" in body["error"]


def test_open_streams_per_key_are_bounded_and_freed_on_close(http):
    with (
        connect_sse(http, "GET", STREAM, headers=bearer("reader")) as first,
        connect_sse(http, "GET", STREAM, headers=bearer("reader")),
    ):
        assert first.response.status_code == 200
        body = assert_error(http.get(STREAM, headers=bearer("reader")), 429)
        assert "2 event streams" in body["error"]
        with connect_sse(http, "GET", STREAM, headers=bearer("writer")) as other:
            assert other.response.status_code == 200  # another key has its own allowance
    deadline = time.monotonic() + 30  # the server notices the closed connections by itself
    while (status := opened(http, bearer("reader"))) == 429 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200


def opened(http: httpx.Client, headers: dict[str, str]) -> int:
    """The status of a stream request (the stream, if opened, is closed at once)."""
    with http.stream("GET", STREAM, headers=headers) as response:
        return response.status_code


def test_shutdown_ends_open_streams_instead_of_waiting_for_them(base_env, tmp_path):
    server = start_api(base_env, tmp_path, events_heartbeat="60")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client, connect_sse(client, "GET", STREAM) as source:
            events = data(source)
            server.process.send_signal(signal.SIGTERM)
            assert list(events) == []  # the server ended the stream (no event, no hang until a heartbeat)
        # well before uvicorn's 30 s graceful-shutdown timeout; uvicorn re-raises the SIGTERM it handled
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        server.stop()
    assert "Application shutdown complete" in server.log()
    assert "graceful shutdown exceeded" not in server.log()
