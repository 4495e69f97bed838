"""A streamed ``multipart/form-data`` body with a known length, form fields first.

Why not httpx's ``files=``: we need a progress callback per chunk, cancellation between
chunks, an optional rate limit, and a ``Content-Length`` so the server can refuse an
oversized file before reading it. Fields go before the file part so the server knows the
purpose and category before the first byte of content arrives."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from service.client.errors import ClientError

CHUNK = 256 * 1024


class Cancelled(Exception):
    """The user interrupted the run; in-flight bodies stop at the next chunk."""


class RateLimiter:
    """A shared byte budget per second across all concurrent uploads (``--limit-rate``)."""

    def __init__(self, bytes_per_second: int) -> None:
        self.rate = bytes_per_second
        self.lock = threading.Lock()
        self.next_free = time.monotonic()

    def take(self, size: int) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + size / self.rate
            wait = start - now
        if wait > 0:
            time.sleep(wait)


@dataclass
class FilePart:
    path: Path
    filename: str
    size: int
    content_type: str = "application/octet-stream"


def _quote(value: str) -> str:
    """Escape a header parameter the way browsers do (HTML living standard)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode(
    fields: dict[str, str], part: FilePart, on_bytes: Callable[[int], None] | None = None,
    cancelled: threading.Event | None = None, limiter: RateLimiter | None = None,
) -> tuple[dict[str, str], int, Iterator[bytes]]:
    """Headers, total length and a generator that reads the file chunk by chunk."""
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode() + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{_quote(part.filename)}"\r\n'
        f"Content-Type: {part.content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + part.size + len(tail)

    def body() -> Iterator[bytes]:
        yield head
        sent = 0
        with part.path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled()
                sent += len(chunk)
                if sent > part.size:
                    raise ClientError(f"{part.path} grew while it was being uploaded")
                if limiter is not None:
                    limiter.take(len(chunk))
                yield chunk
                if on_bytes is not None:
                    on_bytes(len(chunk))
        if sent != part.size:
            raise ClientError(f"{part.path} shrank while it was being uploaded")
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)}
    return headers, length, body()
