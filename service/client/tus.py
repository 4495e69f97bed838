"""Large files over tus 1.0.0 (README "Resumable uploads"), resumable within a run and across runs.

Each chunk (``--chunk-size``, 8 MiB by default) is read into memory once, so it can carry its
``Upload-Checksum`` (sha256) and be re-sent after a dropped connection; memory is one chunk per
concurrent file. The whole-file SHA-256 is declared at creation (``Repr-Digest``, which tus needs
before the first byte) and also computed again from the bytes as they are sent: before the last
chunk goes, a file that changed since it was hashed is caught here and the upload is terminated.
A resumed upload re-reads only the prefix the server already has to rebuild that running hash.
Failures that a retry can cure (a cut connection, a timeout, 408/423/429/5xx, a chunk checksum
mismatch) back off and continue from the server's offset (HEAD), ``retries`` times in a row."""

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx

from service.client.api import DATA, DepotClient, check, error_message
from service.client.errors import ClientError
from service.client.integrity import repr_digest
from service.client.multipart import Cancelled, RateLimiter
from service.client.resume import Pending, ResumeStore, record_key

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
SLICE = 256 * 1024  # progress, cancellation and rate limit act per slice of a chunk
RETRY_STATUS = frozenset({408, 423, 429, 500, 502, 503, 504})
BACKOFF, BACKOFF_MAX = 0.5, 8.0  # seconds: 0.5, 1, 2, 4, 8
FALLBACK_EXPIRY = 24 * 3600.0
TIMEOUT = httpx.Timeout(120.0, connect=10.0)  # a PATCH answers once its bytes reached S3


@dataclass(frozen=True)
class TusOptions:
    threshold: int = 32 * MIB  # files larger than this go over tus
    chunk_size: int = 8 * MIB
    retries: int = 5  # failures in a row before giving up (the record stays: a re-run resumes)


@dataclass
class Sent:
    file: dict[str, Any]  # POST /upload's ``file`` record
    resumed_from: int | None
    retries: int


class Meter(Protocol):
    """The progress display: ``start`` once with the offset we begin at, then absolute positions."""

    def start(self, offset: int) -> None: ...

    def at(self, position: int) -> None: ...


class GaveUp(ClientError):
    """Retries exhausted: the upload stays on the server and in the record for the next run."""


class Retry(Exception):
    def __init__(self, reason: str, response: httpx.Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response


def upload_metadata(fields: dict[str, str], filename: str) -> str:
    """``Upload-Metadata``: POST /upload's form fields, each value base64 of its UTF-8."""
    pairs = {"filename": filename, **fields}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


class TusSender:
    """Shared by the upload threads; each file gets its own ``_Transfer``."""

    def __init__(
        self,
        client: DepotClient,
        records: ResumeStore,
        options: TusOptions,
        cancelled: threading.Event,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.records = records
        self.options = options
        self.cancelled = cancelled
        self.limiter = limiter

    def record_key(self, path: Path, size: int, mtime_ns: int) -> str:
        return record_key(self.client.base_url, self.client.key_fingerprint, path, size, mtime_ns)

    def known_sha256(self, key: str, size: int) -> str | None:
        """The hash recorded when an unfinished upload began (same path, size and mtime)."""
        entry = self.records.get(key)
        return entry.sha256 if entry is not None and entry.size == size else None

    def send(self, path: Path, size: int, sha256: str, fields: dict[str, str], key: str, meter: Meter) -> Sent:
        return _Transfer(self, path, size, sha256, key, meter).run(fields)


class _Transfer:
    def __init__(self, sender: TusSender, path: Path, size: int, sha256: str, key: str, meter: Meter) -> None:
        self.s = sender
        self.http = sender.client.http
        self.path, self.size, self.sha256, self.key, self.meter = path, size, sha256, key, meter
        self.url = ""
        self.position = 0  # bytes the server has, and bytes in ``hasher``
        self.hasher = hashlib.sha256()
        self.failures = 0  # in a row
        self.retries = 0  # in all

    def run(self, fields: dict[str, str]) -> Sent:
        resumed_from = self.resume()
        if resumed_from is None:
            self.create(fields)
        self.meter.start(self.position)
        try:
            with self.s.client.transport_errors():
                with self.path.open("rb") as handle:
                    if self.position < self.size:  # else it finished before the last run could say so
                        self.rehash(handle, self.position)
                    while self.position < self.size:
                        self.send_chunk(handle)
                file = self.result()
        except (Cancelled, GaveUp):
            raise  # resumable: the record stays
        except (ClientError, OSError):
            self.s.records.remove(self.key)
            raise
        self.s.records.remove(self.key)
        return Sent(file, resumed_from, self.retries)

    # -- creation and resume ------------------------------------------------------------------------
    def resume(self) -> int | None:
        """The server's offset of this file's unfinished upload, or None to start over."""
        entry = self.s.records.get(self.key)
        if entry is None or entry.size != self.size or entry.sha256 != self.sha256:
            return None
        response = self.call("HEAD", entry.upload_url)
        if response.status_code in {403, 404, 410}:  # expired, removed, or no longer ours
            self.s.records.remove(self.key)
            return None
        check(response)
        if response.headers.get("upload-length") not in {None, str(self.size)}:
            self.s.records.remove(self.key)
            return None
        self.url, self.position = entry.upload_url, int(response.headers["upload-offset"])
        return self.position

    def create(self, fields: dict[str, str]) -> None:
        headers = {
            **TUS,
            "Upload-Length": str(self.size),
            "Repr-Digest": repr_digest(self.sha256),
            "Upload-Metadata": upload_metadata(fields, self.path.name),
        }
        response = check(self.call("POST", f"{DATA}/tus", headers=headers))
        location = response.headers.get("location")
        if not location:
            raise ClientError(f"the server created the upload but sent no Location (status {response.status_code})")
        self.url = urljoin(self.s.client.base_url + "/", location)
        self.position = 0
        try:
            expires = parsedate_to_datetime(response.headers["upload-expires"]).timestamp()
        except (KeyError, TypeError, ValueError):
            expires = time.time() + FALLBACK_EXPIRY
        self.s.records.put(self.key, Pending(self.url, self.sha256, self.size, str(self.path), time.time(), expires))

    # -- sending --------------------------------------------------------------------------------------
    def rehash(self, handle: Any, until: int) -> None:
        """Rebuild the running hash over the first ``until`` bytes (the prefix the server has)."""
        self.hasher = hashlib.sha256()
        handle.seek(0)
        left = until
        while left > 0:
            block = handle.read(min(left, MIB))
            if not block:
                raise ClientError(f"{self.path} shrank while it was being uploaded")
            self.hasher.update(block)
            left -= len(block)

    def send_chunk(self, handle: Any) -> None:
        handle.seek(self.position)
        want = min(self.s.options.chunk_size, self.size - self.position)
        data = handle.read(want)
        if len(data) != want:
            raise ClientError(f"{self.path} shrank while it was being uploaded")
        after = self.hasher.copy()
        after.update(data)
        if self.position + want == self.size and after.hexdigest() != self.sha256:
            self.terminate()
            raise ClientError(
                f"{self.path} changed while it was being uploaded (SHA-256 {after.hexdigest()}, "
                f"declared {self.sha256}); nothing was stored"
            )
        try:
            reached = self.patch(data)
        except (Retry, httpx.TransportError) as exc:
            self.backoff(exc)
            reached = self.head_offset()
        else:
            self.failures = 0
        self.advance(handle, reached, data, after)

    def patch(self, data: bytes) -> int:
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers = {
            **TUS,
            "Upload-Offset": str(self.position),
            "Content-Type": OFFSET_TYPE,
            "Content-Length": str(len(data)),
            "Upload-Checksum": f"sha256 {checksum}",
        }
        response = self.http.request("PATCH", self.url, content=self.body(data), headers=headers, timeout=TIMEOUT)
        if response.status_code in RETRY_STATUS:
            raise Retry(f"{response.status_code}: {error_message(response)}", response)
        if response.status_code == 409 and "Upload-Offset" in error_message(response):
            raise Retry("offset out of step with the server")
        if response.status_code == 460 and "Upload-Checksum" in error_message(response):
            raise Retry("the server received a damaged chunk")
        check(response)  # anything else is final (460 for the whole file's Repr-Digest included)
        return int(response.headers["upload-offset"])

    def body(self, data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(data), SLICE):
            if self.s.cancelled.is_set():
                raise Cancelled()
            piece = view[start : start + SLICE]
            if self.s.limiter is not None:
                self.s.limiter.take(len(piece))
            yield bytes(piece)
            self.meter.at(self.position + start + len(piece))

    def advance(self, handle: Any, reached: int, data: bytes, after: Any) -> None:
        """Move to the server's offset, keeping the running hash equal to the bytes it has."""
        if reached == self.position + len(data):
            self.hasher = after
        elif self.position <= reached < self.position + len(data):
            self.hasher.update(data[: reached - self.position])
        else:
            self.rehash(handle, reached)
        self.position = reached
        self.meter.at(reached)

    # -- requests and recovery ----------------------------------------------------------------------
    def head_offset(self) -> int:
        response = self.call("HEAD", self.url)
        if response.status_code in {404, 410}:
            raise ClientError("the upload is gone from the server (expired or removed); run again to start over")
        return int(check(response).headers["upload-offset"])

    def result(self) -> dict[str, Any]:
        """POST /upload's answer for the stored file (``GET`` of the finished upload)."""
        return check(self.call("GET", self.url)).json()["file"]

    def call(self, method: str, url: str, headers: dict[str, str] = TUS) -> httpx.Response:
        """An idempotent request, retried like the PATCHes (creation is retried too: a lost answer
        leaves at most an unused upload that expires on the server)."""
        while True:
            try:
                response = self.http.request(method, url, headers=headers, timeout=TIMEOUT)
            except httpx.TransportError as exc:
                self.backoff(exc)
                continue
            if response.status_code in RETRY_STATUS:
                self.backoff(Retry(f"{response.status_code}: {error_message(response)}", response))
                continue
            self.failures = 0
            return response

    def backoff(self, exc: Exception) -> None:
        self.failures += 1
        reason = exc.reason if isinstance(exc, Retry) else f"connection broke ({type(exc).__name__})"
        if self.failures > self.s.options.retries:
            raise GaveUp(
                f"{self.s.client.base_url}: {reason}, {self.s.options.retries} retries failed; "
                f"{self.position} of {self.size} bytes are on the server: run the same command to resume"
            )
        self.retries += 1
        asked = exc.response.headers.get("retry-after", "") if isinstance(exc, Retry) and exc.response else ""
        delay = min(float(asked), 60.0) if asked.isdigit() else min(BACKOFF * 2 ** (self.failures - 1), BACKOFF_MAX)
        if self.s.cancelled.wait(delay):
            raise Cancelled()

    def terminate(self) -> None:
        """Abandon the upload on the server (its parts and state go); best effort."""
        try:
            self.http.request("DELETE", self.url, headers=TUS, timeout=TIMEOUT)
        except httpx.TransportError:
            pass
