"""The worker pods' probe command, `depot worker --check`, against a real Redis and a real worker process."""

import os
import signal
import subprocess
import sys
import time

from service.devstack import Server

# A database of its own, so workers of other tests never answer for this one.
DB = 15


def depot(env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "service", "worker", *args], env=env, **kwargs)


def check(env: dict[str, str]) -> int:
    return depot(env, "--check", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait(60)


def test_check_follows_the_worker_on_this_host(redis_server: Server, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPOT_")}
    env.update(
        DEPOT_REDIS_URL=redis_server.url.rsplit("/", 1)[0] + f"/{DB}",
        DEPOT_S3_ENDPOINT_URL="http://127.0.0.1:9",  # the worker opens no S3 connection at start
        DEPOT_WORKER_JOB_COMPLETION_WAIT="1",
    )
    assert check(env) == 1  # no worker yet: the probe fails

    with open(tmp_path / "worker.log", "wb") as log:
        worker = depot(env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while check(env) != 0:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never recorded its health"
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert check(env) == 1  # a stopped worker removes its record
