"""The benchmark's own stack: SeaweedFS, Redis, the API (production settings) and a worker.

Everything runs on free loopback ports under a temporary directory, and everything
is stopped on the way out, even when a scenario fails."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import psutil
import redis
from arq.constants import default_queue_name, in_progress_key_prefix
from botocore.config import Config

from service.devstack import Server, empty_buckets, free_port, stack_env, start_redis, start_seaweedfs
from service.domain.jobs import CRON_JOBS
from service.settings import Settings

MIB = 1024 * 1024
GIB = 1024 * MIB
BUCKET_PREFIX = "bench-"
DIRECT_BUCKET = "bench-direct"


def s3_client(url: str, pool: int = 32):
    """A plain boto3 client, configured like Depot's own (no newer checksum headers)."""
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="depot", aws_secret_access_key="depot-secret",
        region_name="us-east-1",
        config=Config(
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            max_pool_connections=pool, s3={"addressing_style": "path"},
        ),
    )


@dataclass
class Stack:
    """Handles on the running servers plus the environment that points at them."""

    workdir: Path
    s3: Server
    redis: Server
    env: dict[str, str]
    api_url: str = ""
    api: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    children: list[subprocess.Popen] = field(default_factory=list)

    def client(self, pool: int = 32):
        return s3_client(self.s3.url, pool)

    def settings(self, **overrides: str) -> Settings:
        """The settings the API processes run with."""
        values = {k[6:].lower(): v for k, v in self.env.items() if k.startswith("DEPOT_")}
        return Settings(**{**values, **overrides})

    def start_api(self, **overrides: str) -> None:
        """(Re)start the main API with ``DEPOT_*`` overrides."""
        self.stop_api()
        self.api, self.api_url = self.spawn_api(**overrides)

    def spawn_api(self, **overrides: str) -> tuple[subprocess.Popen, str]:
        """Start one more ``depot serve`` (stopped with the stack); waits for /health/ready."""
        port = free_port()
        env = {**self.env, "DEPOT_PORT": str(port), **{f"DEPOT_{k.upper()}": v for k, v in overrides.items()}}
        log_path = self.workdir / f"api-{port}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"], env=env, stdout=open(log_path, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.children.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("API exited:\n" + log_path.read_text(errors="replace")[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health/ready", timeout=5).status_code == 200:
                    return process, url
            time.sleep(0.2)
        raise RuntimeError("API did not become ready; see " + str(log_path))

    def start_relay(self) -> str:
        """A bare TCP relay to S3 (bench/relay.py), stopped with the stack; returns its base URL."""
        port, s3_port = free_port(), int(self.s3.url.rsplit(":", 1)[1])
        process = subprocess.Popen([sys.executable, "-m", "bench.relay", str(port), str(s3_port)],
                                   start_new_session=True)
        self.children.append(process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return f"http://127.0.0.1:{port}"
            time.sleep(0.1)
        raise RuntimeError("the relay did not start")

    def stop_api(self) -> None:
        if self.api is not None:
            _stop(self.api)
            self.api = None

    def start_worker(self) -> None:
        log = open(self.workdir / "worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children.append(self.worker)

    def restart_worker(self) -> None:
        """A new worker with the current ``env`` (after a setting changed)."""
        if self.worker is not None:
            _stop(self.worker)
        self.start_worker()

    @contextlib.contextmanager
    def worker_paused(self) -> Iterator[None]:
        """Hold the (idle) worker still for a block: jobs queue up in Redis meanwhile.

        In a deployment the workers run in pods of their own; on two shared cores a
        worker parsing the files just uploaded would take CPU from the uploads measured."""
        self.wait_idle()
        os.kill(self.worker.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.worker.pid, signal.SIGCONT)

    def wait_idle(self, timeout: float = 300) -> float:
        """Wait until the worker's queue is empty and no job runs; returns the seconds waited.

        Uploads queue background work (ingestion parse, events). Measuring the next round
        while the worker still chews on the last one would charge its CPU to the wrong side."""
        client = redis.Redis.from_url(self.redis.url)
        cron_marks = tuple(f"{name}:" for name in CRON_JOBS)
        start = time.monotonic()
        try:
            while time.monotonic() - start < timeout:
                # arq keeps a cron job's in-progress mark for a minute after it ran (no double runs):
                # the sweeper's and the tus expiry's marks are not work in flight.
                busy = client.zcard(default_queue_name) or next(
                    (k for k in client.scan_iter(f"{in_progress_key_prefix}*", count=1000)
                     if not k.decode().removeprefix(in_progress_key_prefix).startswith(cron_marks)), None)
                if not busy:
                    return time.monotonic() - start
                time.sleep(0.2)
        finally:
            client.close()
        raise RuntimeError(f"the worker was still busy after {timeout} s")

    def empty_bucket(self, bucket: str) -> None:
        """Delete every object and open upload of a bucket (keeps disk use flat between runs)."""
        empty_buckets(self.client(), [bucket])


def _stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the child's whole session (uvicorn's worker processes too), then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running_stack(keep: bool = False) -> Iterator[Stack]:
    """SeaweedFS + Redis + worker for the duration of the block; the API is started per scenario."""
    workdir = Path(tempfile.mkdtemp(prefix="depot-bench-"))
    servers: list[Server] = []
    stack: Stack | None = None
    try:
        s3 = start_seaweedfs(workdir / "s3")
        servers.append(s3)
        redis = start_redis(workdir / "redis")
        servers.append(redis)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPOT_")}
        env.update({k: v for k, v in stack_env(s3, redis).items() if k.startswith("DEPOT_")})
        env.update({
            "DEPOT_HOST": "127.0.0.1", "DEPOT_BUCKET_PREFIX": BUCKET_PREFIX, "DEPOT_DEBUG": "false",
            "DEPOT_MAX_UPLOAD_SIZE": str(4 * GIB), "TMPDIR": str(workdir),
        })
        stack = Stack(workdir, s3, redis, env)
        stack.client().create_bucket(Bucket=DIRECT_BUCKET)
        stack.start_worker()
        yield stack
    finally:
        if stack is not None:
            for child in reversed(stack.children):
                _stop(child)
        for server in reversed(servers):
            server.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


class RssSampler:
    """Samples VmRSS of a process and its children from /proc while a block runs.

    ``peak`` is the largest sum seen across the tree (uvicorn's supervisor plus its
    workers when DEPOT_WORKERS > 1); ``hwm`` is the kernel's own per-process high-water
    mark (VmHWM), the largest of the tree, as a cross-check between samples."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.hwm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self) -> list[int]:
        try:
            root = psutil.Process(self.pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    @staticmethod
    def _status(pid: int) -> dict[str, int]:
        values = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, amount, _unit = line.split()
                    values[key[:-1]] = int(amount) * 1024
        return values

    def _run(self) -> None:
        pids = self._pids()
        last_scan = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_scan > 1:
                pids, last_scan = self._pids(), time.monotonic()
            statuses = [self._status(pid) for pid in pids]
            self.peak = max(self.peak, sum(s.get("VmRSS", 0) for s in statuses))
            self.hwm = max([self.hwm, *(s.get("VmHWM", 0) for s in statuses)])
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
