"""Scenario: one large file over tus in 8 MiB PATCHes against the same file through POST
/upload (curl -F), the re-sent bytes of a resume after a cut at 50%, and the API's peak
RSS during four concurrent tus uploads.

The tus client is a plain keep-alive httpx loop that reads each chunk from the page cache
(what any tus client does); the whole-file SHA-256 is checked on every stored file."""

import base64
import hashlib
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.measure import MIB, Outcome, median, reset_peak_rss, timed
from bench.stack import RssSampler, Stack
from bench.upload import RSS_LIMIT, depot_round, make_file

CHUNK = 8 * MIB
RATIO_TARGET = 0.85
TUS = "/api/v1/data/tus"
V = {"Tus-Resumable": "1.0.0"}


def _meta(name: str) -> str:
    return ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {"filename": name, "purpose": "training", "category": "archive"}.items()
    )


def create(http: httpx.Client, path: Path) -> str:
    answer = http.post(
        TUS, headers={**V, "Upload-Length": str(path.stat().st_size), "Upload-Metadata": _meta(f"{path.stem}.tar")}
    )
    answer.raise_for_status()
    return answer.headers["location"]


def send_from(http: httpx.Client, location: str, path: Path, offset: int, stop: int | None = None) -> tuple[int, str]:
    """PATCH ``path`` from ``offset`` in CHUNK pieces; (bytes sent, stored path or '')."""
    sent, stored = 0, ""
    size = path.stat().st_size if stop is None else stop
    with open(path, "rb") as source:
        source.seek(offset)
        while offset < size:
            data = source.read(min(CHUNK, size - offset))
            answer = http.patch(
                location,
                content=data,
                headers={**V, "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
            )
            if answer.status_code == 423:  # the cut request still holds the lock for a moment
                time.sleep(0.05)
                source.seek(offset)
                continue
            if answer.status_code != 204:
                raise RuntimeError(f"PATCH at {offset}: {answer.status_code} {answer.text[:200]}")
            offset, sent = int(answer.headers["upload-offset"]), sent + len(data)
            stored = answer.headers.get("depot-file-path", "")
    return sent, stored


def tus_upload(api_url: str, path: Path) -> str:
    with httpx.Client(base_url=api_url, timeout=300) as http:
        location = create(http, path)
        _, stored = send_from(http, location, path, 0)
        return stored


def delete(api_url: str, stored: str) -> None:
    httpx.delete(f"{api_url}/api/v1/data/files/{stored}", timeout=60).raise_for_status()


def cut_patch(api_url: str, location: str, path: Path, offset: int, length: int) -> None:
    """Announce a CHUNK-sized PATCH, send ``length`` bytes of it, drop the connection."""
    parts = urlsplit(api_url)
    with open(path, "rb") as source:
        source.seek(offset)
        data = source.read(length)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {CHUNK}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(head + data)


def resend_after_cut(stack: Stack, path: Path) -> int:
    """Upload to 50%, cut a PATCH half-way, resume from HEAD's offset: bytes sent beyond the file."""
    size = path.stat().st_size
    half = size // 2 // CHUNK * CHUNK
    with httpx.Client(base_url=stack.api_url, timeout=300) as http:
        location = create(http, path)
        sent, _ = send_from(http, location, path, 0, stop=half)
        cut_patch(stack.api_url, location, path, half, CHUNK // 2)
        sent += CHUNK // 2
        offset = half
        for _ in range(600):  # the server saves what arrived once it notices the cut
            offset = int(http.head(location, headers=V).headers["upload-offset"])
            if offset > half:
                break
            time.sleep(0.05)
        more, stored = send_from(http, location, path, offset)
    delete(stack.api_url, stored)
    return sent + more - size


def run(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    path = make_file(stack.workdir / f"tus-{size // MIB}MiB.bin", size)
    expected = hashlib.sha256(path.read_bytes()).hexdigest() if size <= 2 * 1024 * MIB else None
    tus, post = [], []
    for n in range(rounds):
        for side in ("tus", "post") if n % 2 == 0 else ("post", "tus"):
            stack.wait_idle()
            if side == "post":
                post.append(size / MIB / depot_round(stack, path)[0])
                continue
            stored: list[str] = []
            tus.append(size / MIB / timed(lambda: stored.append(tus_upload(stack.api_url, path))))
            record = httpx.get(f"{stack.api_url}/api/v1/data/files/{stored[0]}", params={"metadata": "true"}).json()
            if expected and record["metadata"]["hash"] != expected:
                raise RuntimeError("tus: stored SHA-256 differs")
            delete(stack.api_url, stored[0])
    label = f"{size // MIB} MiB"
    ratio = median(tus) / median(post)
    out.note(
        f"tus {label} in {CHUNK // MIB} MiB PATCHes MiB/s {[round(v) for v in tus]}, "
        f"POST /upload MiB/s {[round(v) for v in post]}"
    )
    out.add(
        f"tus {label}: throughput ratio tus/POST /upload",
        f"{ratio:.2f} ({median(tus):.0f} vs {median(post):.0f} MiB/s)",
        f">= {RATIO_TARGET}",
        ratio >= RATIO_TARGET,
    )
    stack.wait_idle()
    extra = resend_after_cut(stack, path)
    out.add(
        "tus: bytes re-sent after a cut at 50%",
        f"{extra / MIB:.1f} MiB",
        f"<= one chunk ({CHUNK // MIB} MiB)",
        extra <= CHUNK,
    )
    stack.wait_idle()
    reset_peak_rss(stack.api.pid)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            delete(stack.api_url, tus_upload(stack.api_url, path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with RssSampler(stack.api.pid) as rss:
        threads = [threading.Thread(target=one) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    peak = max(rss.peak, rss.hwm)
    out.add(
        f"tus: API peak RSS, four concurrent {label} uploads", f"{peak / MIB:.0f} MiB", "< 150 MiB", peak < RSS_LIMIT
    )
    path.unlink()
