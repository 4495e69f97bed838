"""Helpers shared by the test suites: starting API servers and building multipart bodies."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.devstack import free_port

MIB = 1024 * 1024


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen
    env: dict[str, str]
    tmpdir: Path
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_api(base_env: dict[str, str], workdir: Path, ready_path: str = "/health/live", **overrides: str) -> ApiServer:
    """Run ``depot serve`` as a real process (uvicorn) with ``DEPOT_*`` overrides."""
    port = free_port()
    tmpdir = workdir / f"tmp-{port}"
    tmpdir.mkdir(parents=True)
    env = {**base_env, "DEPOT_HOST": "127.0.0.1", "DEPOT_PORT": str(port), "TMPDIR": str(tmpdir),
           **{f"DEPOT_{k.upper()}": v for k, v in overrides.items()}}
    log_path = workdir / f"api-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    server = ApiServer(f"http://127.0.0.1:{port}", process, env, tmpdir, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("API exited:\n" + server.log())
        try:
            if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError("API not ready:\n" + server.log())


def multipart_stream(
    fields_before: dict[str, str], filename: str, data_chunks: Iterator[bytes],
    fields_after: dict[str, str] | None = None, boundary: str | None = None,
) -> tuple[str, Iterator[bytes]]:
    """A streamed multipart body (no Content-Length: sent chunked), fields in a chosen order."""
    boundary = boundary or uuid.uuid4().hex

    def field(name: str, value: str) -> bytes:
        return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()

    def body() -> Iterator[bytes]:
        for name, value in fields_before.items():
            yield field(name, value)
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        yield from data_chunks
        yield b"\r\n"
        for name, value in (fields_after or {}).items():
            yield field(name, value)
        yield f"--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


def pattern_chunks(size: int, chunk: int = MIB, seed: int = 7, head: bytes = b"") -> Iterator[bytes]:
    """Deterministic, non-repeating-per-chunk bytes without holding them all.

    ``head`` replaces the first bytes, so the content passes the upload's content check
    (e.g. ``HEADS["zip"]``: uploads are sniffed against their extension)."""
    block = os.urandom(0) or bytes((i * 31 + seed) % 251 for i in range(chunk))
    sent = 0
    n = 0
    while sent < size:
        take = min(chunk, size - sent)
        data = (n.to_bytes(8, "big") + block)[:take]
        if sent < len(head):
            data = (head[sent:sent + take] + data[len(head) - sent:])[:take]
        yield data
        sent += take
        n += 1


def _tar_head() -> bytes:
    import tarfile

    info = tarfile.TarInfo("pattern.bin")
    info.size = 1 << 40
    return info.tobuf()


# First bytes that pass the upload's content check (``service/domain/sniff.py``), by type.
HEADS = {
    "zip": b"PK\x03\x04",
    "tar": _tar_head(),
    "csv": b"a,b\n" * 1024,  # the text window (4 KiB) of UTF-8 without NUL
    "json": b"[" + b" " * 4095,
}


def run_worker_burst(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``depot worker --burst``: a real arq worker that exits when the queue is empty."""
    return subprocess.run(
        [sys.executable, "-m", "service", "worker", "--burst"], env=env, capture_output=True,
        text=True, timeout=timeout, check=False,
    )


def raw_http(url: str, request: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send bytes as they are (lying headers included) and return (status, body)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
                head, sep, body = received.partition(b"\r\n\r\n")
                if sep and b"content-length:" in head.lower():
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        break
        except (ConnectionResetError, TimeoutError):
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body
