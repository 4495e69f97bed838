"""The real ``depot`` command against the test stack: bulk upload, resume, JSON, downloads, errors."""

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from service.devstack import free_port
from tests.conftest import TEST_MAX_UPLOAD


def write(path: Path, data: bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def server_hashes(client: httpx.Client, **params: str) -> list[str]:
    return [f["hash"] for f in client.get("/api/v1/data/files", params={"limit": 1000, **params}).json()["files"]]


def test_directory_upload_with_a_failing_file(depot, client, tmp_path):
    folder = tmp_path / "voices"
    good = {
        "a.json": write(folder / "a.json", b'{"id": 1}'),
        "notes.txt": write(folder / "notes.txt", b"hello\n" * 1000),
        "deep/b.csv": write(folder / "deep" / "b.csv", b"x,y\n1,2\n"),
    }
    write(folder / "tool.exe", b"MZ\x90\x00 not allowed")
    write(folder / ".hidden.txt", b"left out")

    result = depot("upload", str(folder), "--recursive", "--purpose", "training",
                   "--description", "lab batch", "--metadata", '{"source": "lab"}', "--jobs", "3")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Upload summary" in result.stdout
    assert "3 uploaded, 0 skipped (already on the server), 1 failed" in result.stdout
    failed_row = next(line for line in result.stdout.splitlines() if "tool.exe" in line)
    assert "failed" in failed_row and "not allowed" in failed_row
    assert sorted(server_hashes(client, purpose="training")) == sorted(sha(d) for d in good.values())
    listed = client.get("/api/v1/data/files").json()["files"]
    assert {f["description"] for f in listed} == {"lab batch"}
    meta = client.get(f"/api/v1/data/files/{listed[0]['path']}", params={"metadata": "true"}).json()
    assert meta["metadata"]["metadata"] == {"source": "lab"}


def test_a_file_over_the_limit_fails_at_once_with_413(depot, client, tmp_path):
    big = tmp_path / "huge.log"
    with big.open("wb") as handle:
        handle.truncate(TEST_MAX_UPLOAD + 1024 * 1024)  # sparse: no disk, no memory
    write(tmp_path / "small.log", b"fits\n")
    result = depot("upload", str(big), str(tmp_path / "small.log"), "--json")
    assert result.returncode == 1, result.stderr
    outcome = {r["file"]: r for r in json.loads(result.stdout)["results"]}
    assert outcome["huge.log"]["status"] == "failed" and outcome["huge.log"]["error"].startswith("413")
    assert outcome["small.log"]["status"] == "uploaded"
    assert server_hashes(client) == [sha(b"fits\n")]


def test_without_recursive_only_top_level_files(depot, client, tmp_path):
    write(tmp_path / "d" / "top.md", b"# top")
    write(tmp_path / "d" / "sub" / "nested.md", b"# nested")
    result = depot("upload", str(tmp_path / "d"), "--json")
    assert result.returncode == 0, result.stderr
    assert [r["file"] for r in json.loads(result.stdout)["results"]] == ["d/top.md"]
    assert server_hashes(client) == [sha(b"# top")]


def test_resume_after_an_interrupted_run(depot, client, tmp_path):
    folder = tmp_path / "batch"
    blobs = [write(folder / f"part{i}.log", bytes([65 + i]) * (384 * 1024)) for i in range(6)]
    slow = subprocess.Popen(
        [sys.executable, "-m", "service", "upload", str(folder), "--jobs", "1", "--limit-rate", "1M"],
        env=depot.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while client.get("/api/v1/data/files").json()["total"] < 2 and time.monotonic() < deadline:
        assert slow.poll() is None, slow.communicate()
        time.sleep(0.05)
    slow.send_signal(signal.SIGINT)
    out, errors = slow.communicate(timeout=60)
    assert slow.returncode == 130, out + errors
    assert "cancelled" in out and "run the same command again" in errors
    first = server_hashes(client)
    assert 2 <= len(first) < 6 and len(set(first)) == len(first)

    result = depot("upload", str(folder), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    statuses = {r["file"]: r["status"] for r in report["results"]}
    assert sorted(s for s in statuses.values()) == sorted(["skipped"] * len(first) + ["uploaded"] * (6 - len(first)))
    skipped = [r for r in report["results"] if r["status"] == "skipped"]
    assert all(r["sha256"] in first and r["path"] for r in skipped)
    assert sorted(server_hashes(client)) == sorted(sha(b) for b in blobs)

    again = depot("upload", str(folder))
    assert again.returncode == 0 and "0 uploaded, 6 skipped" in again.stdout


def test_ls_info_get_rm_and_stats_speak_json(depot, client, tmp_path):
    blobs = {"one.txt": write(tmp_path / "one.txt", b"line\n" * 100),
             "two.yaml": write(tmp_path / "two.yaml", b"key: value\n")}
    for name in blobs:  # one by one: "newest first" needs distinct upload times
        assert depot("upload", str(tmp_path / name), "--purpose", "training").returncode == 0
    page = json.loads(depot("ls", "--json", "--limit", "1").stdout)
    assert page["total"] == 2 and len(page["files"]) == 1
    rest = json.loads(depot("ls", "--json", "--limit", "1", "--offset", "1").stdout)
    assert page["files"][0]["uploaded_at"] > rest["files"][0]["uploaded_at"]  # newest first
    assert page["files"][0]["path"].startswith("training/data/two")

    path = rest["files"][0]["path"]
    info = json.loads(depot("info", path, "--json").stdout)
    assert info["hash"] == sha(blobs["one.txt"]) and info["filename"] == "one.txt"
    got = depot("get", path, "-o", str(tmp_path / "copy.txt"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "copy.txt").read_bytes() == blobs["one.txt"]

    stats = json.loads(depot("stats", "--json").stdout)
    assert stats == client.get("/api/v1/data/stats").json()["stats"]
    removed = depot("rm", path)
    assert removed.returncode == 0, removed.stderr
    after = json.loads(depot("ls", "--json").stdout)
    assert after["total"] == 1, (removed.stdout, after, path)
    table = depot("stats")
    assert "total" in table.stdout and "training" in table.stdout


def test_errors_are_one_readable_line(depot, tmp_path):
    missing = depot("info", "training/data/nothing_here.json")
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: 404") and len(missing.stderr.strip().splitlines()) == 1
    verbose = depot("info", "training/data/nothing_here.json", "--verbose")
    assert len(verbose.stderr.strip().splitlines()) > 1 and "GET " in verbose.stderr
    port = free_port()
    down = depot("ls", DEPOT_URL=f"http://127.0.0.1:{port}")
    assert down.returncode == 1
    assert down.stderr.strip().splitlines() == [
        f"error: cannot connect to http://127.0.0.1:{port} (is the server running?)"
    ]
    bad = depot("upload", str(tmp_path), "--metadata", "[1, 2]")
    assert bad.returncode == 1 and "--metadata must be a JSON object" in bad.stderr
    for number in ("NaN", "1e999"):  # not JSON numbers: refused before any request (the server says 400)
        nan = depot("upload", str(tmp_path), "--metadata", f'{{"a": {number}}}')
        assert nan.returncode == 1 and "--metadata is not valid JSON" in nan.stderr


class Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Recorder.seen.append(self.headers.get("Authorization", ""))
        body = json.dumps({"success": True, "stats": {"total_files": 7, "total_size": 0, "by_purpose": {},
                                                      "by_category": {}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_url_and_api_key_come_from_the_config_file_and_flags_win(depot, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = Path(depot.env["XDG_CONFIG_HOME"]) / "depot" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'url = "http://127.0.0.1:{server.server_port}"\napi_key = "from-file"\n')
        from_file = depot("stats", "--json", DEPOT_URL="")
        assert from_file.returncode == 0, from_file.stderr
        assert json.loads(from_file.stdout)["total_files"] == 7
        assert depot("stats", "--json", "--api-key", "from-flag", DEPOT_URL="").returncode == 0
        assert depot("stats", "--json", DEPOT_URL="", DEPOT_API_KEY="from-env").returncode == 0
        assert Recorder.seen[-3:] == ["Bearer from-file", "Bearer from-flag", "Bearer from-env"]
    finally:
        server.shutdown()
        server.server_close()
