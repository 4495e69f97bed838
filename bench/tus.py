"""Scenario: one large file over tus in 8 MiB PATCHes against the same file through POST
/upload (curl -F) and curl straight to S3 (the reference line), the re-sent bytes of a resume
after a cut at 50%, the API's peak RSS during four concurrent tus uploads, and the cost of
the serialisable SHA-256 state.

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
import psutil

from bench import sha_state
from bench.measure import MIB, Outcome, median, reset_peak_rss, timed
from bench.stack import DIRECT_BUCKET, GIB, RssSampler, Stack
from bench.upload import RSS_LIMIT, curl_put, depot_round, make_file, reference

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
            sent += len(data)  # on the wire, whatever the answer
            if answer.status_code in (409, 423):  # a cut request still holds the lock, or saved more
                time.sleep(0.05)
                offset = int(http.head(location, headers=V).headers["upload-offset"])
                source.seek(offset)
                continue
            if answer.status_code != 204:
                raise RuntimeError(f"PATCH at {offset}: {answer.status_code} {answer.text[:200]}")
            offset = int(answer.headers["upload-offset"])
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
        time.sleep(0.25)  # a client's retry delay (tus-js-client: 0, then 1 s)
        offset = int(http.head(location, headers=V).headers["upload-offset"])  # a client resumes from HEAD
        more, stored = send_from(http, location, path, offset)
    delete(stack.api_url, stored)
    return sent + more - size


def _round(stack: Stack, side: str, path: Path, expected: str | None, presigned: str) -> float:
    """Seconds of one transfer of ``path``: over tus, through POST /upload, or curl straight to S3."""
    if side == "post":
        return depot_round(stack, path)[0]
    if side == "curl":
        return timed(lambda: curl_put(presigned, path))
    stored: list[str] = []
    seconds = timed(lambda: stored.append(tus_upload(stack.api_url, path)))
    record = httpx.get(f"{stack.api_url}/api/v1/data/files/{stored[0]}", params={"metadata": "true"}).json()
    if expected and record["metadata"]["hash"] != expected:
        raise RuntimeError("tus: stored SHA-256 differs")
    delete(stack.api_url, stored[0])
    return seconds


def run(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    path = make_file(stack.workdir / f"tus-{size // MIB}MiB.bin", size)
    expected = hashlib.sha256(path.read_bytes()).hexdigest() if size <= 2 * 1024 * MIB else None
    s3 = stack.client()
    presigned = s3.generate_presigned_url("put_object", Params={"Bucket": DIRECT_BUCKET, "Key": path.name})
    sides = ["tus", "post", "curl"]
    speed: dict[str, list[float]] = {side: [] for side in sides}
    cpu: dict[str, list[float]] = {side: [] for side in sides}
    api = psutil.Process(stack.api.pid)
    for n in range(rounds):
        for side in sides[n % 3 :] + sides[: n % 3]:  # each side goes first, second and third in turn
            stack.wait_idle()
            before = sum(api.cpu_times()[:2])
            speed[side].append(size / MIB / _round(stack, side, path, expected, presigned))
            cpu[side].append((sum(api.cpu_times()[:2]) - before) * GIB / size)
    s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
    tus, post, straight = (median(speed[side]) for side in sides)
    label = f"{size // MIB} MiB"
    ratio = tus / post
    out.note(
        f"tus {label} in {CHUNK // MIB} MiB PATCHes MiB/s {[round(v) for v in speed['tus']]}, "
        f"POST /upload MiB/s {[round(v) for v in speed['post']]}, "
        f"curl straight to S3 MiB/s {[round(v) for v in speed['curl']]}"
    )
    out.note(
        f"API CPU s per GiB: tus {[round(v, 2) for v in cpu['tus']]}, POST /upload {[round(v, 2) for v in cpu['post']]}"
    )
    out.add(
        f"tus {label}: throughput ratio tus/POST /upload",
        f"{ratio:.2f} ({tus:.0f} vs {post:.0f} MiB/s)",
        f">= {RATIO_TARGET}",
        ratio >= RATIO_TARGET,
    )
    reference(out, f"tus {label}", straight, {"tus": tus, "POST /upload": post})
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
    sha_state.run(min(size, 256 * MIB), rounds, CHUNK, out)
