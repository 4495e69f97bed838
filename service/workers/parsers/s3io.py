"""Synchronous file objects over S3 objects, for parsers running in a worker thread.

Parsers (csv, ijson, yaml, zipfile, tarfile, mutagen) want ordinary blocking file
objects; the S3 client is async. A parser runs in a thread and each read hops to the
worker's event loop (``Bridge``), so memory stays bounded by one S3 chunk (sequential
reads) or a few cached blocks (seekable reads), whatever the object's size."""

import asyncio
import io
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from service.storage.reader import ObjectReader

BLOCK = 256 * 1024  # one ranged GET of a seekable reader
CACHED_BLOCKS = 8


class Cancelled(Exception):
    """The job gave up on this parse (timeout): the thread stops at its next read."""


class Bridge:
    """Runs coroutines on the worker's loop from the parser thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cancelled = False

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self.cancelled:
            coro.close()
            raise Cancelled("parse cancelled")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


async def _next(chunks: Any) -> bytes:
    return await anext(chunks, b"")


async def _close(chunks: Any) -> None:
    await chunks.aclose()


class StreamReader(io.RawIOBase):
    """Sequential reads from one GET (the cheapest way through a whole object)."""

    def __init__(self, bridge: Bridge, objects: ObjectReader, bucket: str, key: str) -> None:
        self.bridge, self.objects, self.bucket, self.key = bridge, objects, bucket, key
        self._chunks = None
        self._buffer = memoryview(b"")
        self._eof = False
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer and not self._eof:
            if self._chunks is None:
                self._chunks = self.bridge.call(self.objects.open_read(self.bucket, self.key)).chunks
            chunk = self.bridge.call(_next(self._chunks))
            if chunk:
                self._buffer = memoryview(chunk)
            else:
                self._eof = True
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        self.consumed += count
        return count

    def close(self) -> None:
        if self._chunks is not None and not self._eof and not self.bridge.cancelled:
            try:
                self.bridge.call(_close(self._chunks))
            except Exception:  # noqa: BLE001 - closing a half-read body is best effort
                pass
        self._chunks = None
        super().close()


class RangedReader(io.RawIOBase):
    """Seekable reads by ranged GETs of ``BLOCK`` bytes, a few blocks cached (ZIP, audio)."""

    def __init__(self, bridge: Bridge, objects: ObjectReader, bucket: str, key: str, size: int) -> None:
        self.bridge, self.objects, self.bucket, self.key, self.size = bridge, objects, bucket, key, size
        self.position = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the object")
        self.position = base + offset
        return self.position

    def _block(self, number: int) -> bytes:
        if number in self._blocks:
            self._blocks.move_to_end(number)
            return self._blocks[number]
        start = number * BLOCK
        end = min(start + BLOCK, self.size) - 1
        data = self.bridge.call(self.objects.read_range(self.bucket, self.key, start, end))
        self.requests += 1
        self._blocks[number] = data
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return data

    def readinto(self, target: Any) -> int:
        if self.position >= self.size:
            return 0
        number, offset = divmod(self.position, BLOCK)
        data = self._block(number)[offset:offset + len(target)]
        target[:len(data)] = data
        self.position += len(data)
        return len(data)


async def run_over_object(
    objects: Any, bucket: str, key: str, size: int, seekable: bool,
    work: Callable[[io.BufferedReader], Any], timeout: float,
) -> Any:
    """``work`` in a thread over a buffered view of one object, abandoned cleanly at ``timeout``.

    Raises ``TimeoutError`` past the timeout and ``Cancelled`` if the thread was stopped."""
    bridge = Bridge(asyncio.get_running_loop())

    def run() -> Any:
        raw = RangedReader(bridge, objects, bucket, key, size) if seekable else StreamReader(
            bridge, objects, bucket, key)
        with io.BufferedReader(raw, 64 * 1024) as stream:
            return work(stream)

    task = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except (TimeoutError, asyncio.CancelledError):
        bridge.cancelled = True  # the thread stops at its next read
        await asyncio.gather(task, return_exceptions=True)
        raise
