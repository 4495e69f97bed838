"""Events read by libraries we did not write: the CloudEvents SDK parses every event type from the
API and from webhook bodies, and the ``standardwebhooks`` package verifies the signatures (and
refuses a tampered body, an old timestamp and a wrong secret)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import httpx
import jsonschema
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, from_structured_event
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from service.devstack import free_port
from service.domain.webhooks import new_secret
from tests.integration.model_fixtures import created, follow
from tests.integration.test_ingestion_events import Receiver, worker
from tests.integration.test_models_zip import make_zip, model


def corrupt_zip() -> bytes:
    """A model ZIP whose weights fail their CRC: accepted at upload, failed by the worker."""
    weights = bytes(range(256)) * 64
    data = bytearray(make_zip(model("m/", weights), zipfile.ZIP_STORED))
    data[data.find(weights[:64]) + 1000] ^= 0xFF
    return bytes(data)


ALL_TYPES = {
    f"io.depot.{name}"
    for name in (
        "file.uploaded",
        "file.processing",
        "file.processed",
        "file.failed",
        "file.deleted",
        "model.imported",
        "model.failed",
        "training.ready",
    )
}


def upload(client, name: str, data: bytes, purpose: str = "training") -> dict:
    response = client.post("/api/v1/data/upload", files={"file": (name, data)}, data={"purpose": purpose})
    assert response.status_code == 201, response.text
    return response.json()["file"]


def every_kind_of_event(client, env: dict[str, str], **worker_env: str) -> None:
    """Uploads, a parse failure, a delete, a training trigger, an import that works and one that fails."""
    upload(client, "rows.csv", b"a,b\n1,2\n")
    upload(client, "broken.json", b'{"x": ', purpose="ingestion")
    gone = upload(client, "gone.txt", b"bye\n", purpose="ingestion")
    assert client.delete(f"/api/v1/data/files/{gone['path']}").status_code == 200
    worker(env, DEPOT_TRAINING_THRESHOLDS="data:count=1", **worker_env)
    good = created(
        client.post(
            "/v1/upload/local",
            params={"model_name": "fine"},
            files={"file": ("m.zip", make_zip(model()), "application/zip")},
        )
    )
    bad = created(
        client.post(
            "/v1/upload/local",
            params={"model_name": "lacking"},
            files={"file": ("m.zip", corrupt_zip(), "application/zip")},
        )
    )
    assert follow(client, good, {**env, **worker_env})["task_status"] == "DONE"
    assert follow(client, bad)["task_status"] == "FAILED"  # the same worker run did both


def test_cloudevents_sdk_parses_every_event_type_from_the_api(mclient, model_env):
    every_kind_of_event(mclient, model_env)
    page = mclient.get("/api/v1/events", params={"limit": 1000}).json()["events"]
    schemas = mclient.get("/api/v1/events/schemas").json()["schemas"]
    seen = set()
    for raw in page:
        message = HTTPMessage(headers={"content-type": "application/cloudevents+json"}, body=json.dumps(raw).encode())
        event = from_structured_event(message)
        assert event.get_specversion() == "1.0" and event.get_id() == raw["id"]
        assert event.get_source().startswith("http://127.0.0.1:")  # DEPOT_PUBLIC_URL's default
        assert event.get_subject() and event.get_time().tzinfo is not None
        assert event.get_datacontenttype() == "application/json" and isinstance(event.get_data(), dict)
        jsonschema.validate(raw, schemas[event.get_type()])  # and the published schema holds
        seen.add(event.get_type())
    assert seen == ALL_TYPES
    by_type = {e["type"]: e for e in page}
    assert by_type["io.depot.model.imported"]["subject"] == "local/fine@main"
    assert by_type["io.depot.training.ready"]["subject"] == "data"
    assert by_type["io.depot.file.processed"]["data"]["summary"]["rows"] == 1


def test_webhook_bodies_parse_as_cloudevents_and_signatures_verify(mclient, model_env):
    old, new, stranger = new_secret(), new_secret(), new_secret()
    receiver = Receiver()
    receiver.seen = type("Everything", (set,), {"__contains__": lambda self, item: True})()  # always 200
    try:
        every_kind_of_event(
            mclient, model_env, DEPOT_WEBHOOK_URLS=receiver.url, DEPOT_WEBHOOK_SECRET=f"{old} {new}"
        )  # mid-rotation: both sign
    finally:
        receiver.close()
    types = set()
    for headers, body, _ in receiver.received:
        event = from_http_event(HTTPMessage(headers=headers, body=body))  # structured mode by content type
        types.add(event.get_type())
        assert headers["webhook-id"] == event.get_id()
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in (old, new):  # a receiver holding either secret accepts the message
            assert Webhook(secret).verify(body, headers)["id"] == event.get_id()
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(stranger).verify(body, headers)
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(new).verify(body.replace(b'"data":{', b'"data":{"forged":1,', 1), headers)
        replayed = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 600)}
        with pytest.raises(WebhookVerificationError, match="too old"):
            Webhook(new).verify(body, replayed)
    assert types == ALL_TYPES


def readme_receiver() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- receiver -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    return textwrap.dedent(block)


def test_the_readme_receiver_verifies_a_real_delivery(client, api, tmp_path):
    code = readme_receiver()
    assert len(code.strip().splitlines()) <= 11  # ten lines plus the one that starts it, as promised
    script = tmp_path / "receiver.py"
    script.write_text(code)
    secret, port = new_secret(), free_port()
    receiver = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "WEBHOOK_SECRET": secret, "PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port)
        file = upload(client, "hook.txt", b"hello\n", purpose="ingestion")
        worker(api.env, DEPOT_WEBHOOK_URLS=f"http://127.0.0.1:{port}/", DEPOT_WEBHOOK_SECRET=secret)
        forged = httpx.post(
            f"http://127.0.0.1:{port}/",
            content=b"{}",
            headers={
                "webhook-id": "1-0",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": "v1,Zm9yZ2Vk",
            },
        )
        assert forged.status_code == 400
    finally:
        receiver.terminate()
        out, _ = receiver.communicate(timeout=10)
    assert sorted(out.splitlines()) == [
        f"io.depot.file.{kind} {file['path']}"  # deliveries run concurrently
        for kind in ("processed", "processing", "uploaded")
    ]


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the README receiver did not start"
            time.sleep(0.1)
