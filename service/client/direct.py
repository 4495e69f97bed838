"""``depot upload --direct``: bytes go straight to S3 with presigned part URLs (README "Direct transfers").

``DirectClient`` wraps a ``DepotClient`` and replaces only ``upload``, so the bulk uploader
(hashing, skipping, progress, summary) stays the same. The SHA-256 is computed while the parts
go up and declared at completion. Parts in flight are bounded across all the files of a run
(``--jobs`` uploads share the same ``PARTS_IN_FLIGHT`` slots), so memory stays at about
``PARTS_IN_FLIGHT`` parts whatever the number of files. Part URLs are asked for in small
batches as the upload goes, so none expires before it is used; parts go up concurrently,
each read from the file when it is sent (memory: ``PARTS_IN_FLIGHT`` parts)."""

import hashlib
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx

from service.client.api import DATA, DepotClient, check
from service.client.errors import ClientError
from service.client.multipart import Cancelled, RateLimiter

DIRECT = f"{DATA}/direct"
PARTS_IN_FLIGHT = 8
URL_BATCH = 16  # part URLs asked for at once (the server allows up to its max_urls)
POLL_MAX = 2.0  # seconds between status polls at most


def offer(client: DepotClient) -> dict[str, Any]:
    """The server's direct-transfer capabilities; ``ClientError`` when it does not offer them."""
    try:
        answer = client.request("GET", DIRECT)
    except ClientError as exc:
        if exc.status == 404:
            raise ClientError("this server does not offer direct transfers (no /api/v1/data/direct)") from None
        raise
    capabilities = answer.json()
    if not capabilities.get("enabled"):
        raise ClientError("this server does not offer direct transfers (DEPOT_DIRECT_TRANSFERS is off)")
    return capabilities


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class DirectClient:
    """A ``DepotClient`` whose ``upload`` sends the bytes straight to S3."""

    def __init__(self, client: DepotClient, capabilities: dict[str, Any]) -> None:
        self.client = client
        self.batch = max(1, min(URL_BATCH, int(capabilities.get("max_urls", URL_BATCH))))
        self.s3 = httpx.Client(
            timeout=httpx.Timeout(300.0, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self.slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT)  # shared by every file of the run
        weakref.finalize(self, self.s3.close)  # never the Depot client's pool: it carries the API key

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def upload(
        self,
        path: Path,
        size: int,
        fields: dict[str, str],
        on_bytes: Callable[[int], None] | None = None,
        cancelled: threading.Event | None = None,
        limiter: RateLimiter | None = None,
        sha256: str | None = None,
    ) -> dict[str, Any]:
        """Declare, send the parts, complete, then wait for the server's verification; returns the
        stored ``file`` record, as ``DepotClient.upload`` does. A known ``sha256`` is declared up front;
        otherwise it is computed while the parts go up and declared at /complete."""
        declaration = {"filename": path.name, "size": size, **fields, **({"sha256": sha256} if sha256 else {})}
        upload = self.client.request("POST", DIRECT, json=declaration).json()
        where = f"{DIRECT}/{upload['id']}"
        with ThreadPoolExecutor(1, thread_name_prefix="direct-hash") as hashing:
            # one read pass, beside the parts in flight (none when the caller already hashed the file)
            digest = hashing.submit(lambda: sha256 or file_sha256(path))
            try:
                parts = self._send(path, upload, where, on_bytes, cancelled, limiter)
                sha256 = digest.result()
            except BaseException:
                try:
                    self.client.request("DELETE", where)
                except ClientError:
                    pass  # it expires on the server anyway
                raise
        self.client.request("POST", f"{where}/complete", json={"parts": parts, "sha256": sha256})
        return self._wait(where)

    def _send(self, path: Path, upload: dict, where: str, on_bytes, cancelled, limiter) -> list[dict[str, Any]]:
        numbers = list(range(1, upload["parts"] + 1))
        etags: dict[int, str] = {}
        fd = os.open(path, os.O_RDONLY)
        try:
            with ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="direct") as pool:
                running: set[Future] = set()
                while numbers or running:
                    if numbers and len(running) < PARTS_IN_FLIGHT:
                        batch, numbers = numbers[: self.batch], numbers[self.batch :]
                        urls = self.client.request("POST", f"{where}/parts", json={"numbers": batch}).json()["urls"]
                        for part in urls:
                            while len(running) >= PARTS_IN_FLIGHT:
                                running = self._reap(running, etags)
                            if cancelled is not None and cancelled.is_set():
                                raise Cancelled()
                            start = (part["number"] - 1) * upload["part_size"]
                            running.add(pool.submit(self._put, fd, start, part, on_bytes, limiter))
                    else:
                        running = self._reap(running, etags)
        finally:
            os.close(fd)
        return [{"number": n, "etag": etags[n]} for n in sorted(etags)]

    @staticmethod
    def _reap(running: set[Future], etags: dict[int, str]) -> set[Future]:
        done, pending = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            number, etag = future.result()  # a failed part fails the upload
            etags[number] = etag
        return pending

    def _put(self, fd: int, start: int, part: dict, on_bytes, limiter) -> tuple[int, str]:
        with self.slots:  # the part is read only once a slot is free: bounded memory
            data = os.pread(fd, part["size"], start)
            if len(data) != part["size"]:
                raise ClientError("the file shrank while it was being uploaded")
            if limiter is not None:
                limiter.take(len(data))
            try:
                response = check(self.s3.put(part["url"], content=data))
            except httpx.HTTPError as exc:
                raise ClientError(f"S3 part {part['number']}: {exc}") from exc
            del data
        if on_bytes is not None:
            on_bytes(part["size"])
        return part["number"], response.headers["etag"]

    def _wait(self, where: str) -> dict[str, Any]:
        """Poll the status until the worker stored (or refused) the file."""
        delay = 0.1
        while True:
            status = self.client.request("GET", where).json()
            if status["state"] == "stored":
                return status["file"]
            if status["state"] != "verifying":
                raise ClientError(f"direct upload {status['state']}: {status.get('error') or 'no reason given'}")
            time.sleep(delay)
            delay = min(POLL_MAX, delay * 1.5)
