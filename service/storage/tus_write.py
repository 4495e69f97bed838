"""One PATCH body into S3 parts: one part uploads while the next is received.

Progress is saved (offset, SHA-256 state, ETags, tail) each time a part is in S3, using
the hash state and offset captured when that part was cut, so the saved state always
describes bytes that are really stored. With ``Upload-Checksum`` nothing is saved until
the whole chunk has matched: a mismatch leaves the upload where it was (parts sent
meanwhile are overwritten by the next ones, which reuse their numbers)."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from service.domain.sha256state import Sha256State
from service.domain.sniff import SNIFF_BYTES, Sniffer
from service.domain.tus import CHECKSUM_ALGORITHMS
from service.errors import ChecksumMismatch, DepotError, TooLarge
from service.storage.tus_state import TusUpload

if TYPE_CHECKING:
    from service.storage.tus import TusStore


class PatchWriter:
    def __init__(self, store: "TusStore", upload: TusUpload, token: str, checksum: tuple[str, bytes] | None) -> None:
        settings = store.settings
        self.store, self.upload, self.token, self.checksum = store, upload, token, checksum
        self.limit = min(
            upload.length if upload.length is not None else settings.max_upload_size, settings.max_upload_size
        )
        self.part_size = settings.part_size
        self.hasher = Sha256State(upload.sha)
        self.check = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        self.sniffer = None
        if upload.offset < SNIFF_BYTES:
            self.sniffer = Sniffer(upload.meta.get("filename", ""))
            self.sniffer.feed(upload.tail)  # the whole file so far: it is shorter than one part
        self.buffer = bytearray(upload.tail)
        self.position = upload.offset  # bytes received, counting from the file's start
        self.etags = list(upload.etags)
        self.inflight: asyncio.Task | None = None

    async def run(self, body: AsyncIterator[bytes]) -> None:
        refreshed = time.monotonic()
        try:
            async for data in body:
                self._take(data)
                if len(self.buffer) >= self.part_size:
                    await self._settle()
                    self._launch()
                    refreshed = time.monotonic()
                elif time.monotonic() - refreshed > self.store.state.lock_ms / 3000:
                    await self.store.save(self.upload, self.token)  # a slow body keeps its lock
                    refreshed = time.monotonic()
            await self._settle()
        except BaseException:
            await self._keep_what_arrived()
            raise
        if self.check is not None and self.check.digest() != self.checksum[1]:
            raise ChecksumMismatch(f"Upload-Checksum mismatch ({self.checksum[0]}): chunk dropped")
        await self.store.commit(
            self.upload, self.token, self.position, self.hasher.state, bytes(self.buffer), self.etags
        )

    def _take(self, data: bytes) -> None:
        if self.position + len(data) > self.limit:
            raise TooLarge(
                f"body goes past Upload-Length ({self.limit} bytes)"
                if self.upload.length is not None
                else f"file exceeds the upload limit of {self.limit} bytes"
            )
        if self.sniffer is not None:
            self.sniffer.feed(data)  # a file that is not what its name says fails on its first bytes
        self.hasher.update(data)
        if self.check is not None:
            self.check.update(data)
        self.buffer += data
        self.position += len(data)

    def _launch(self) -> None:
        data, self.buffer = bytes(self.buffer), bytearray()
        self.inflight = asyncio.create_task(self._send(data, self.position, self.hasher.state))

    async def _send(self, data: bytes, position: int, sha: bytes) -> None:
        """Upload the next part; without a checksum, save at once the progress it completes
        (the position and hash state captured when the part was cut)."""
        self.etags.append(await self.store.put_part(self.upload, len(self.etags) + 1, data))
        if self.check is None:
            await self.store.commit(self.upload, self.token, position, sha, b"", self.etags)

    async def _settle(self) -> None:
        """Wait for the part in flight (one at a time, so ETags stay in order)."""
        if self.inflight is not None:
            task, self.inflight = self.inflight, None
            await task

    async def _keep_what_arrived(self) -> None:
        """After a failure (a cut connection, a body past the length): save every intact byte;
        with a checksum, or if the part in flight failed, nothing more than was saved."""
        if self.check is not None:
            if self.inflight is not None:
                self.inflight.cancel()
                await asyncio.gather(self.inflight, return_exceptions=True)
            return
        try:
            await self._settle()
            if self.position > self.upload.offset:
                await self.store.commit(
                    self.upload, self.token, self.position, self.hasher.state, bytes(self.buffer), self.etags
                )
        except DepotError:
            pass  # the state stays at the last save; the client resumes from HEAD's offset
