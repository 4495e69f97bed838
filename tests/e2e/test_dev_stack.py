"""`make run` is `depot dev`: the whole stack starts, serves, stops on Ctrl+C and keeps its data."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.devstack import free_port


def start_dev(data_dir, api_port: int, s3_port: int, redis_port: int, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPOT_")}
    env["DEPOT_PORT"] = str(api_port)
    return subprocess.Popen(
        [sys.executable, "-m", "service", "dev", "--data-dir", str(data_dir),
         "--s3-port", str(s3_port), "--redis-port", str(redis_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "depot dev exited early"
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("depot dev did not become ready")


def stop_with_ctrl_c(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(60)


def port_closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
    except httpx.ConnectError:
        return True
    return False


def test_dev_stack_serves_stops_and_keeps_data(tmp_path):
    ports = {"api": free_port(), "s3": free_port(), "redis": free_port()}
    url = f"http://127.0.0.1:{ports['api']}"
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log:
        process = start_dev(tmp_path / "data", ports["api"], ports["s3"], ports["redis"], log)
        try:
            wait_ready(url, process)
            response = httpx.post(url + "/api/v1/data/upload", files={"file": ("kept.json", b'{"k": 1}')},
                                  data={"purpose": "training"})
            assert response.status_code == 201
            path = response.json()["file"]["path"]
        finally:
            code = stop_with_ctrl_c(process)
    output = log_path.read_text()
    assert code == 0 and "stopped" in output
    assert f"http://127.0.0.1:{ports['api']}" in output and f"127.0.0.1:{ports['s3']}" in output
    assert "Starting worker for" in output  # the arq worker ran beside the API
    assert all(port_closed(p) for p in ports.values())

    with open(log_path, "ab") as log:
        process = start_dev(tmp_path / "data", ports["api"], ports["s3"], ports["redis"], log)
        try:
            wait_ready(url, process)
            listing = httpx.get(url + "/api/v1/data/files").json()
            assert [f["path"] for f in listing["files"]] == [path]
            assert httpx.get(f"{url}/api/v1/data/files/{path}").content == b'{"k": 1}'
        finally:
            assert stop_with_ctrl_c(process) == 0


def child_running(parent: int, *words: str) -> int:
    """The pid of the parent's child whose command line holds every word."""
    for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if all(w.encode() in argv for w in words):
            return int(pid)
    raise AssertionError(f"no child runs {words}")


def test_a_crashed_api_is_restarted_without_stopping_the_stack(tmp_path):
    ports = {"api": free_port(), "s3": free_port(), "redis": free_port()}
    url = f"http://127.0.0.1:{ports['api']}"
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log:
        process = start_dev(tmp_path / "data", ports["api"], ports["s3"], ports["redis"], log)
        try:
            wait_ready(url, process)
            api, worker = child_running(process.pid, "serve"), child_running(process.pid, "worker")
            os.kill(api, signal.SIGKILL)
            wait_ready(url, process)  # asserts that depot dev itself kept running
            assert child_running(process.pid, "serve") != api
            assert child_running(process.pid, "worker") == worker
        finally:
            code = stop_with_ctrl_c(process)
    output = log_path.read_text()
    assert code == 0 and "api exited with -9; restarting it" in output, output[-3000:]
