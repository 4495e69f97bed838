"""Events end to end: entry-point handlers, webhooks with retries, training triggers.
(CloudEvents and Standard Webhooks checked by other people's libraries: test_events_standards.py.)"""

import asyncio
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from service.devstack import free_port
from service.domain.events import from_cloudevent
from tests.integration.test_ingestion_processing import enqueue
from tests.support import run_worker_burst

HANDLER_PACKAGE = '''
import os


def record(event):
    with open(os.environ["TEST_HANDLER_OUT"], "a") as out:
        out.write(type(event).__name__ + " " + event.model_dump_json() + "\\n")


record.events = {"file.uploaded", "file.processed"}  # short names: handlers see typed events


async def explode(event):
    raise RuntimeError("a broken handler must not stop the others")
'''


def install_handler_package(root: Path) -> Path:
    """A tiny distribution on a path entry: a package plus a dist-info declaring the entry points."""
    site = root / "site"
    (site / "depot_test_handler").mkdir(parents=True)
    (site / "depot_test_handler" / "__init__.py").write_text(HANDLER_PACKAGE)
    info = site / "depot_test_handler-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: depot-test-handler\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[depot.handlers]\nrecorder = depot_test_handler:record\nexploder = depot_test_handler:explode\n")
    return site


def worker(env: dict[str, str], **overrides: str) -> subprocess.CompletedProcess:
    result = run_worker_burst({**env, **overrides})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def events(client, **params) -> list[dict]:
    """Stored CloudEvents, flattened to ``{id, type (short), time, **data}`` for short asserts."""
    page = client.get("/api/v1/events", params={"limit": 1000, **params}).json()["events"]
    return [{**e["data"], "id": e["id"], "type": e["type"].removeprefix("io.depot."), "time": e["time"]}
            for e in page]


def test_entry_point_handler_receives_typed_events(client, api, tmp_path):
    site = install_handler_package(tmp_path)
    out = tmp_path / "handled.txt"
    file = client.post("/api/v1/data/upload", files={"file": ("q.csv", b"a,b\n1,2\n")}).json()["file"]
    result = worker(api.env, PYTHONPATH=str(site), TEST_HANDLER_OUT=str(out))
    lines = sorted(out.read_text().splitlines(), key=lambda line: "FileProcessed" in line)
    assert [line.split(" ", 1)[0] for line in lines] == ["FileUploaded", "FileProcessed"]  # typed, filtered
    processed = json.loads(lines[1].split(" ", 1)[1])
    assert processed["path"] == file["path"] and processed["summary"]["rows"] == 1 and processed["id"]
    assert "handler exploder failed" in result.stderr  # logged, and the others still ran


def test_event_pages_resume_after_an_id(client, api):
    for i in range(5):
        client.post("/api/v1/data/upload", files={"file": (f"{i}.json", f"[{i}]".encode())})
    first = client.get("/api/v1/events", params={"limit": 2}).json()
    assert [e["type"] for e in first["events"]] == ["io.depot.file.uploaded"] * 2
    rest = client.get("/api/v1/events", params={"after": first["next"], "limit": 100}).json()
    assert len(rest["events"]) == 3 and rest["next"] == rest["events"][-1]["id"]
    assert client.get("/api/v1/events", params={"after": rest["next"]}).json()["events"] == []
    for raw in first["events"] + rest["events"]:
        assert from_cloudevent(raw).type == "file.uploaded"  # every stored event validates against its schema
    schemas = client.get("/api/v1/events/schemas").json()["schemas"]
    assert set(schemas) == {f"io.depot.{name}" for name in (
        "file.uploaded", "file.processing", "file.processed", "file.failed", "file.deleted", "model.imported",
        "model.failed", "training.ready")}


class Receiver:
    """A local webhook receiver: answers 500 to the first delivery of each event, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery = self.headers["webhook-id"]
                status = 200 if delivery in receiver.seen else 500
                receiver.seen.add(delivery)
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/depot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhooks_are_retried_after_a_500(client, api):
    receiver = Receiver()
    try:
        file = client.post("/api/v1/data/upload", files={"file": ("n.md", b"# hi\n")}).json()["file"]
        worker(api.env, DEPOT_WEBHOOK_URLS=receiver.url, DEPOT_WEBHOOK_RETRY_DELAY="0.2")
    finally:
        receiver.close()
    tries: dict[str, list[int]] = {}
    for headers, _, status in receiver.received:
        tries.setdefault(headers["webhook-id"], []).append(status)
    assert list(tries.values()) == [[500, 200]] * 3  # each event: refused once, then delivered
    delivered = {}
    for headers, body, status in receiver.received:
        assert "webhook-signature" not in headers  # no secret configured: unsigned
        event = json.loads(body)
        assert headers["webhook-id"] == event["id"]
        if status == 200:
            delivered[event["type"]] = event
    assert set(delivered) == {"io.depot.file.uploaded", "io.depot.file.processing", "io.depot.file.processed"}
    assert delivered["io.depot.file.processed"]["subject"] == file["path"]
    assert delivered["io.depot.file.processed"]["data"]["summary"] == {"format": "markdown", "lines": 1,
                                                                       "words": 2, "characters": 5}
    stream_ids = {e["id"] for e in events(client)}
    assert {e["id"] for e in delivered.values()} == stream_ids


def test_webhook_gives_up_after_max_tries(client, api):
    receiver = Receiver()
    receiver.seen = type("Forgetful", (set,), {"add": lambda self, item: None})()  # 500, always
    try:
        client.post("/api/v1/data/upload", files={"file": ("n.txt", b"x")})
        result = worker(api.env, DEPOT_WEBHOOK_URLS=receiver.url, DEPOT_WEBHOOK_RETRY_DELAY="0.1",
                        DEPOT_WEBHOOK_MAX_TRIES="3")
    finally:
        receiver.close()
    assert [status for _, _, status in receiver.received] == [500] * 9  # 3 events x 3 tries
    assert "failed for good after 3 tries" in result.stderr


def test_training_ready_fires_exactly_once_per_crossing(client, api, redis_client):
    def put(i: int) -> int:
        return client.post("/api/v1/data/upload", files={"file": (f"s{i}.txt", f"sample {i}\n".encode())},
                           data={"purpose": "training"}).status_code

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(put, range(20))) == [201] * 20
    client.post("/api/v1/data/upload", files={"file": ("x.txt", b"ingestion, not counted\n")})
    env = {**api.env, "DEPOT_TRAINING_THRESHOLDS": "text:count=8;audio:count=1"}
    workers = [subprocess.Popen([sys.executable, "-m", "service", "worker", "--burst"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for process in workers:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr[-3000:]
    ready = [e for e in events(client) if e["type"] == "training.ready"]
    assert len(ready) == 2, ready
    assert sorted(e["sequence"] for e in ready) == [1, 2]
    assert all(e["category"] == "text" and e["files"] == 8 and e["threshold_files"] == 8 for e in ready)
    window = redis_client.hgetall("depot:training:text")
    assert window["files"] == "4" and window["sequence"] == "2"
    assert sum(e["bytes"] for e in ready) + int(window["bytes"]) == sum(len(f"sample {i}\n") for i in range(20))

    # A redelivered event (arq is at-least-once) is not counted twice.
    processed = [e for e in events(client) if e["type"] == "file.processed" and e["purpose"] == "training"]
    redis_client.delete(f"arq:result:event:{processed[0]['id']}")
    asyncio.run(enqueue(api.env["DEPOT_REDIS_URL"], "dispatch_event", processed[0]["id"]))
    worker(env)
    assert int(redis_client.hget("depot:training:text", "files")) == 4
    assert len([e for e in events(client) if e["type"] == "training.ready"]) == 2


def test_model_import_emits_model_imported(mclient, model_env):
    from tests.integration.model_fixtures import created, follow
    from tests.integration.test_models_zip import make_zip, model

    location = created(mclient.post("/v1/upload/local", params={"model_name": "evented"},
                                    files={"file": ("m.zip", make_zip(model()), "application/zip")}))
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    imported = [e for e in events(mclient) if e["type"] == "model.imported"]
    assert len(imported) == 1
    assert imported[0]["task_id"] == task["id"] and imported[0]["model_ids"] == ["local/evented@main"]
    assert imported[0]["source"] == "LOCAL"


def test_byte_threshold_fires_on_the_crossing_file(client, api):
    for i in range(3):
        client.post("/api/v1/data/upload", files={"file": (f"d{i}.json", b'{"sample": "' + b"x" * 16 + b'"}')},
                    data={"purpose": "training"})  # 30 bytes each
    worker(api.env, DEPOT_TRAINING_THRESHOLDS="data:bytes=50")
    ready = [e for e in events(client) if e["type"] == "training.ready"]
    assert len(ready) == 1
    assert ready[0]["files"] == 2 and ready[0]["bytes"] == 60 and ready[0]["threshold_bytes"] == 50
    assert ready[0]["threshold_files"] == 0 and ready[0]["sequence"] == 1


def test_entries_from_before_cloudevents_are_served_as_cloudevents(client, redis_client):
    legacy = {"type": "file.deleted", "time": "2026-01-01T00:00:00.000000Z", "path": "ingestion/text/a.txt",
              "purpose": "ingestion", "category": "text"}
    entry = redis_client.xadd("depot:events", {"type": "file.deleted", "data": json.dumps(legacy)})
    [event] = client.get("/api/v1/events").json()["events"]
    assert event["id"] == entry and event["type"] == "io.depot.file.deleted" and event["specversion"] == "1.0"
    assert event["subject"] == "ingestion/text/a.txt" and event["time"] == legacy["time"]
    assert event["data"] == {"path": "ingestion/text/a.txt", "purpose": "ingestion", "category": "text"}
