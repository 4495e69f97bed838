"""``depot upload`` over tus against the real stack: large files in chunks, resume after SIGKILL
and after a cut connection, Repr-Digest checks, and the local record of unfinished uploads.

A small threshold and chunk (1 MiB) keep the files at a few MiB; the CLI is slowed down by its own
``--limit-rate``, and ``tests.proxy`` between CLI and API cuts connections and counts the bytes."""

import hashlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from service.client.resume import Pending, ResumeStore, key_fingerprint, record_key
from service.devstack import free_port
from service.domain.digest import parse_repr_digest, repr_digest
from tests.proxy import Proxy, Rule

MIB = 1024 * 1024
SMALL = ["--tus-threshold", "1M", "--chunk-size", "1M", "--json"]
OVERHEAD = 64 * 1024  # request lines and headers of every request in a run, generously
TUS = {"Tus-Resumable": "1.0.0"}


def text_blob(size: int) -> bytes:
    """Text (so content sniffing accepts a .log) that never repeats: every chunk differs."""
    lines, total, i = [], 0, 0
    while total < size:
        line = f"{i:09d} {hashlib.sha256(str(i).encode()).hexdigest()}\n".encode()
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def proxy(api) -> Iterator[Proxy]:
    gate = Proxy(urlsplit(api.url).port, free_port())
    yield gate
    gate.close()


def records(depot) -> ResumeStore:
    return ResumeStore(Path(depot.env["XDG_STATE_HOME"]) / "depot" / "uploads.json")


def results(run: subprocess.CompletedProcess) -> list[dict]:
    return json.loads(run.stdout)["results"]


def start_slow(depot, path: Path, url: str, *extra: str) -> subprocess.Popen:
    """A throttled ``depot upload`` (1 MiB/s) in the background."""
    args = [sys.executable, "-m", "service", "upload", str(path), *SMALL, "--limit-rate", "1M", *extra]
    return subprocess.Popen(
        args, env={**depot.env, "DEPOT_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_offset(depot, client: httpx.Client, process: subprocess.Popen, at_least: int) -> str:
    """The upload URL from the CLI's record, once the server holds ``at_least`` bytes of it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for entry in records(depot).entries().values():
            head = client.head(entry.upload_url, headers=TUS)
            if int(head.headers.get("upload-offset", 0)) >= at_least:
                return entry.upload_url
        time.sleep(0.05)
    raise AssertionError("the upload never got going")


def test_a_large_file_goes_over_tus_and_a_small_one_over_post(depot, client, tmp_path):
    big = text_blob(5 * MIB + 123)
    (tmp_path / "big.log").write_bytes(big)
    (tmp_path / "small.log").write_bytes(b"small\n")

    run = depot("upload", str(tmp_path / "big.log"), str(tmp_path / "small.log"), "--purpose", "training", *SMALL)

    assert run.returncode == 0, run.stdout + run.stderr
    outcome = {r["file"]: r for r in results(run)}
    assert outcome["big.log"]["transport"] == "tus" and outcome["small.log"]["transport"] == "post"
    assert outcome["big.log"]["sha256"] == sha(big) and outcome["big.log"]["resumed_from"] is None
    listed = {f["path"]: f["hash"] for f in client.get("/api/v1/data/files").json()["files"]}
    assert listed == {outcome["big.log"]["path"]: sha(big), outcome["small.log"]["path"]: sha(b"small\n")}
    stored = client.get(f"/api/v1/data/files/{outcome['big.log']['path']}")
    assert stored.content == big and parse_repr_digest(stored.headers["repr-digest"]) == sha(big)
    assert records(depot).entries() == {}  # the record of the finished upload is gone
    got = depot("get", outcome["big.log"]["path"], "-o", str(tmp_path / "copy.log"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "copy.log").read_bytes() == big


def test_sigkill_mid_upload_then_the_same_command_resumes_from_the_server_offset(depot, client, proxy, tmp_path):
    data = text_blob(6 * MIB + 4321)
    path = tmp_path / "big.log"
    path.write_bytes(data)
    slow = start_slow(depot, path, proxy.url)
    upload_url = wait_for_offset(depot, client, slow, 2 * MIB)
    slow.send_signal(signal.SIGKILL)
    slow.communicate(timeout=30)
    offset = int(client.head(upload_url, headers=TUS).headers["upload-offset"])
    assert 0 < offset < len(data)

    # As on a terminal (rich draws its bars), throttled so that several frames are drawn.
    run = depot("upload", str(path), *SMALL[:-1], "--limit-rate", "4M", DEPOT_URL=proxy.url, TTY_COMPATIBLE="1")

    assert run.returncode == 0, run.stdout + run.stderr
    resumed = int(re.search(r"resuming big.log at .* \((\d+) bytes already on the server\)", run.stderr)[1])
    assert offset <= resumed < len(data)  # the killed PATCH's bytes may land after our HEAD
    shown = [float(done) for done in re.findall(r"big\.log[^\n]*?(\d+\.\d)/6\.0 MiB", run.stderr)]
    assert shown and min(shown) >= round(resumed / MIB, 1) - 0.05  # the file's bar starts at the offset, not at 0
    assert "1 uploaded" in run.stdout
    # Both runs together sent the file once, plus at most the one chunk in flight at the kill.
    assert proxy.upstream_total <= len(data) + MIB + OVERHEAD, proxy.upstream_total
    stored = client.get(upload_url).json()["file"]  # the finished upload names the stored file
    assert stored["hash"] == sha(data) and client.get(f"/api/v1/data/files/{stored['path']}").content == data
    assert records(depot).entries() == {}


def test_a_cut_connection_is_resumed_within_the_run(depot, client, proxy, tmp_path):
    data = text_blob(4 * MIB + 99)
    (tmp_path / "cut.log").write_bytes(data)
    proxy.add(Rule(after_bytes=int(2.5 * MIB), times=1))  # mid-way through the third chunk

    run = depot("upload", str(tmp_path / "cut.log"), *SMALL, DEPOT_URL=proxy.url)

    assert run.returncode == 0, run.stdout + run.stderr
    [outcome] = results(run)
    assert proxy.cuts == 1 and outcome["retries"] >= 1 and outcome["status"] == "uploaded"
    assert proxy.upstream_total <= len(data) + MIB + OVERHEAD, proxy.upstream_total  # ≤ one chunk re-sent
    assert client.get(f"/api/v1/data/files/{outcome['path']}").content == data
    assert records(depot).entries() == {}


def test_when_retries_run_out_the_file_fails_and_the_next_run_resumes(depot, client, proxy, tmp_path):
    data = text_blob(3 * MIB + 3)
    path = tmp_path / "outage.log"
    path.write_bytes(data)
    slow = start_slow(depot, path, proxy.url, "--retries", "1")
    wait_for_offset(depot, client, slow, MIB)
    proxy.down()  # the server is unreachable for the rest of this run
    out, errors = slow.communicate(timeout=60)

    assert slow.returncode == 1, out + errors
    [outcome] = json.loads(out)["results"]
    assert outcome["status"] == "failed" and "1 retries failed" in outcome["error"]
    assert "run the same command to resume" in outcome["error"]
    [entry] = records(depot).entries().values()  # kept for the next run

    proxy.up()
    run = depot("upload", str(path), *SMALL, DEPOT_URL=proxy.url)

    assert run.returncode == 0, run.stdout + run.stderr
    [outcome] = results(run)
    assert outcome["resumed_from"] >= MIB and client.get(entry.upload_url).json()["file"]["hash"] == sha(data)
    assert client.get(f"/api/v1/data/files/{outcome['path']}").content == data
    assert records(depot).entries() == {}


def test_a_file_changed_during_its_upload_is_refused_and_nothing_is_stored(depot, client, tmp_path):
    data = text_blob(3 * MIB)
    path = tmp_path / "moving.log"
    path.write_bytes(data)
    slow = start_slow(depot, path, depot.env["DEPOT_URL"])
    upload_url = wait_for_offset(depot, client, slow, MIB)
    with path.open("r+b") as handle:  # same size, other bytes at the end: only the hash can tell
        handle.seek(len(data) - 10)
        handle.write(b"0123456789")
    out, errors = slow.communicate(timeout=60)

    assert slow.returncode == 1, out + errors
    [outcome] = json.loads(out)["results"]
    assert outcome["status"] == "failed" and "changed while it was being uploaded" in outcome["error"]
    assert client.get("/api/v1/data/files").json()["total"] == 0
    assert client.head(upload_url, headers=TUS).status_code == 404  # terminated, not left to expire
    assert records(depot).entries() == {}


class LyingDepot(BaseHTTPRequestHandler):
    """A server that stores something other than what was sent: a fault a real Depot cannot make."""

    digests: list[str] = []
    WRONG = "0" * 64
    FILE = {
        "path": "training/data/x.log",
        "filename": "x.log",
        "category": "data",
        "purpose": "training",
        "size": 6,
        "hash": WRONG,
        "uploaded_at": "2026-11-28T00:00:00Z",
    }

    def answer(self, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/v1/data/files?"):
            self.answer(json.dumps({"success": True, "total": 0, "limit": 1000, "offset": 0, "files": []}).encode())
        else:
            self.answer(b"hello\n", {"Repr-Digest": repr_digest(self.WRONG)})

    def do_POST(self) -> None:  # noqa: N802
        LyingDepot.digests.append(self.headers.get("Repr-Digest", ""))
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer(json.dumps({"success": True, "file": self.FILE}).encode())

    def log_message(self, *_: object) -> None:
        pass


def test_a_server_that_stored_or_sent_other_bytes_is_an_error(depot, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), LyingDepot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        (tmp_path / "x.log").write_bytes(b"hello\n")
        up = depot("upload", str(tmp_path / "x.log"), "--json", DEPOT_URL=url)
        got = depot("get", "training/data/x.log", "-o", str(tmp_path / "copy.log"), DEPOT_URL=url)
    finally:
        server.shutdown()
        server.server_close()
    assert LyingDepot.digests == [repr_digest(sha(b"hello\n"))]  # the CLI declared the file's SHA-256
    assert up.returncode == 1
    [outcome] = results(up)
    assert outcome["status"] == "failed" and "SHA-256 mismatch" in outcome["error"]
    assert got.returncode == 1 and "SHA-256 mismatch" in got.stderr
    assert not (tmp_path / "copy.log").exists() and not (tmp_path / ".copy.log.part").exists()


def plant(depot, path: Path, data: bytes) -> None:
    """A record as a killed run would leave it, for an upload id the server does not know."""
    url = depot.env["DEPOT_URL"]
    key = record_key(url, key_fingerprint(None), path, len(data), path.stat().st_mtime_ns)
    gone = f"{url}/api/v1/data/tus/{'0' * 32}"
    records(depot).put(key, Pending(gone, sha(data), len(data), str(path), time.time(), time.time() + 3600))


def test_an_upload_the_server_no_longer_has_starts_over(depot, client, tmp_path):
    data = text_blob(2 * MIB + 5)
    path = tmp_path / "again.log"
    path.write_bytes(data)
    plant(depot, path, data)  # an upload the server never had, as if expired or terminated: 404

    run = depot("upload", str(path), *SMALL)

    assert run.returncode == 0, run.stdout + run.stderr
    [outcome] = results(run)
    assert outcome["status"] == "uploaded" and outcome["resumed_from"] is None and "resuming" not in run.stderr
    assert client.get(f"/api/v1/data/files/{outcome['path']}").content == data
    assert records(depot).entries() == {}


def test_ctrl_c_keeps_the_record_and_the_next_run_resumes(depot, client, tmp_path):
    data = text_blob(4 * MIB + 1)
    path = tmp_path / "paused.log"
    path.write_bytes(data)
    slow = start_slow(depot, path, depot.env["DEPOT_URL"])
    upload_url = wait_for_offset(depot, client, slow, MIB)
    slow.send_signal(signal.SIGINT)
    out, errors = slow.communicate(timeout=60)
    assert slow.returncode == 130, out + errors
    assert json.loads(out)["results"][0]["status"] == "cancelled"
    [entry] = records(depot).entries().values()
    assert entry.upload_url == upload_url and entry.sha256 == sha(data)

    run = depot("upload", str(path), *SMALL)

    assert run.returncode == 0, run.stdout + run.stderr
    [outcome] = results(run)
    assert outcome["status"] == "uploaded" and outcome["resumed_from"] >= MIB
    assert client.get(upload_url).json()["file"]["hash"] == sha(data) == outcome["sha256"]
    assert records(depot).entries() == {}


def test_a_file_the_server_already_has_drops_its_record(depot, client, tmp_path):
    """Killed after its last PATCH but before forgetting it: the re-run skips the file (same SHA-256)
    and forgets the record too."""
    data = text_blob(2 * MIB + 7)
    path = tmp_path / "done.log"
    path.write_bytes(data)
    assert depot("upload", str(path), *SMALL).returncode == 0
    plant(depot, path, data)

    run = depot("upload", str(path), *SMALL)

    assert run.returncode == 0, run.stdout + run.stderr
    assert [r["status"] for r in results(run)] == ["skipped"]
    assert records(depot).entries() == {}
