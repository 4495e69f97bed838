"""One PATCH body into S3 parts.

A body whose length is known (``Content-Length``, which tus clients send) and that, with
the tail left by earlier PATCHes, reaches S3's 5 MiB part minimum is cut into parts
planned up front (``plan``: no tail is left) and each part is *streamed*: sent to S3 while
its bytes arrive. Nothing is held but the chunks in transit, and the PATCH's answer waits
only for S3's answer to its last part; the next part is received while the one before
waits for its answer. Other bodies (under 5 MiB, or of unknown length) are gathered in
memory: what stays under one part becomes the tail, kept in Redis for the next PATCH.

Progress (offset, SHA-256 state, ETags, tail) is saved each time a part is in S3, with the
hash state and offset at that part's end, so the saved state only ever describes stored
bytes. A cut connection loses the bytes of a part being streamed (they never reached S3;
at most one part, which the client sends again from HEAD's offset); a gathered body keeps
every byte that arrived. With ``Upload-Checksum`` nothing is saved until the whole chunk
has matched: a mismatch leaves the upload where it was (parts sent meanwhile are
overwritten by the next ones, which reuse their numbers)."""

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

MIN_PART = 5 * 1024 * 1024  # S3's smallest part (all but the last)


class ShortBody(DepotError):
    """The body ended before its ``Content-Length`` (a client that went away)."""

    status_code = 400


def plan(total: int, part_size: int) -> list[int]:
    """Part sizes for ``total`` bytes (at least ``MIN_PART``): as many parts of ``part_size`` as
    fit, the remainder spread over them, so none is under the minimum and nothing is left over."""
    count = max(1, total // part_size)
    base, extra = divmod(total, count)
    return [base + 1 if n < extra else base for n in range(count)]


class PatchWriter:
    def __init__(
        self, store: "TusStore", upload: TusUpload, token: str, checksum: tuple[str, bytes] | None, size: int | None
    ) -> None:
        settings = store.settings
        self.store, self.upload, self.token, self.checksum, self.size = store, upload, token, checksum, size
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
        self.received = upload.offset  # bytes taken from the body, counting from the file's start
        self.position = upload.offset  # of those, bytes hashed (and given to a part or the buffer)
        self.buffer = bytearray()
        self.etags = list(upload.etags)
        self.next_part = len(self.etags) + 1
        self.saving: asyncio.Task | None = None  # the last part: its answer from S3, then its save
        self.refreshed = time.monotonic()

    async def run(self, body: AsyncIterator[bytes]) -> None:
        tail = self.upload.tail
        streamed = self.size is not None and len(tail) + self.size >= MIN_PART
        try:
            if streamed:
                await self._stream(body.__aiter__(), tail, plan(len(tail) + self.size, self.part_size))
            else:
                self.buffer += tail
                await self._gather(body)
            await self._settle()
        except BaseException:
            await self._keep_what_arrived(streamed)
            raise
        if self.check is not None and self.check.digest() != self.checksum[1]:
            raise ChecksumMismatch(f"Upload-Checksum mismatch ({self.checksum[0]}): chunk dropped")
        if not streamed or self.check is not None:  # a streamed body's last part saved it all
            await self.store.commit(
                self.upload, self.token, self.position, self.hasher.state, bytes(self.buffer), self.etags
            )

    # streamed parts -------------------------------------------------------------------------
    async def _stream(self, source: AsyncIterator[bytes], tail: bytes, sizes: list[int]) -> None:
        await self.store.start_multipart(self.upload)
        carry = [b""]  # received but not yet in a part: the rest of a chunk that spans two parts
        for n, size in enumerate(sizes):
            given = asyncio.get_running_loop().create_future()
            chunks = self._feed(source, size, tail if n == 0 else b"", carry, given)
            sending = asyncio.create_task(self.store.stream_part(self.upload, self.next_part, size, chunks))
            self.next_part += 1
            await asyncio.wait([given, sending], return_when=asyncio.FIRST_COMPLETED)
            if not given.done() or given.exception() is not None:  # the body or S3 failed mid-part
                sending.cancel()
                failure = given.exception() if given.done() else None
                results = await asyncio.gather(sending, return_exceptions=True)
                if failure is None and isinstance(results[0], BaseException):
                    failure = results[0]
                raise failure or ShortBody("the body ended before its Content-Length")
            position, sha = given.result()
            previous, self.saving = self.saving, asyncio.create_task(self._saved(sending, position, sha, self.saving))
            if previous is not None:
                await previous  # at most one part waits for its answer while the next one streams

    async def _feed(
        self, source: AsyncIterator[bytes], size: int, tail: bytes, carry: list[bytes], given: asyncio.Future
    ) -> AsyncIterator[bytes]:
        """One part's bytes as they arrive; ``given`` learns (offset, hash state) at the part's end,
        or the error that stopped the body (the S3 request then fails: its part never lands)."""
        remaining = size - len(tail)
        try:
            if not remaining:  # a part of the tail alone (left by a chunked PATCH)
                given.set_result((self.position, self.hasher.state))
            if tail:
                yield tail  # already hashed and counted (earlier PATCHes)
            while remaining:
                if not carry[0]:
                    try:
                        data = await anext(source)
                    except StopAsyncIteration:
                        raise ShortBody("the body ended before its Content-Length") from None
                    self._take(data)
                    carry[0] = data
                data = carry[0]
                piece, carry[0] = (data, b"") if len(data) <= remaining else (data[:remaining], data[remaining:])
                self.hasher.update(piece)
                self.position += len(piece)
                remaining -= len(piece)
                if not remaining:
                    given.set_result((self.position, self.hasher.state))
                yield piece
                await self._keep_lock()
        except BaseException as exc:
            if not given.done():
                given.set_exception(exc)
            raise

    async def _saved(
        self, sending: asyncio.Task, position: int, sha: bytes, previous: asyncio.Task | None = None
    ) -> None:
        """The part's ETag once S3 has it, after the part before it (ETags stay in order); without
        a checksum the progress it completes is saved at once."""
        if previous is not None:
            try:
                await previous
            except BaseException:
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
                raise
        self.etags.append(await sending)
        if self.check is None:
            await self.store.commit(self.upload, self.token, position, sha, b"", self.etags)

    # gathered parts -------------------------------------------------------------------------
    async def _gather(self, body: AsyncIterator[bytes]) -> None:
        async for data in body:
            self._take(data)
            self.hasher.update(data)
            self.position += len(data)
            self.buffer += data
            if len(self.buffer) >= self.part_size:
                await self._settle()  # one part in memory waits for S3 while the next one fills
                part, self.buffer = bytes(self.buffer), bytearray()
                sending = asyncio.create_task(self.store.put_part(self.upload, self.next_part, part))
                self.next_part += 1
                self.saving = asyncio.create_task(self._saved(sending, self.position, self.hasher.state))
            else:
                await self._keep_lock()

    # shared ---------------------------------------------------------------------------------
    def _take(self, data: bytes) -> None:
        if self.received + len(data) > self.limit:
            raise TooLarge(
                f"body goes past Upload-Length ({self.limit} bytes)"
                if self.upload.length is not None
                else f"file exceeds the upload limit of {self.limit} bytes"
            )
        self.received += len(data)
        if self.sniffer is not None:
            self.sniffer.feed(data)  # a file that is not what its name says fails on its first bytes
        if self.check is not None:
            self.check.update(data)

    async def _keep_lock(self) -> None:
        """A slow body keeps its lock (any save extends it)."""
        if time.monotonic() - self.refreshed > self.store.state.lock_ms / 3000:
            self.refreshed = time.monotonic()
            await self.store.save(self.upload, self.token)

    async def _settle(self) -> None:
        """Wait for the part that waits for S3 (parts are saved in order, so ETags stay in order)."""
        if self.saving is not None:
            task, self.saving = self.saving, None
            await task

    async def _keep_what_arrived(self, streamed: bool) -> None:
        """After a failure (a cut connection, a body past the length): save every intact byte.
        With a checksum, or if a part failed, nothing more than was saved; a part being streamed
        is lost (its bytes never reached S3), the parts before it are kept."""
        if self.check is not None:
            if self.saving is not None:
                self.saving.cancel()
                await asyncio.gather(self.saving, return_exceptions=True)
            return
        try:
            await self._settle()
            if not streamed and self.position > self.upload.offset:
                await self.store.commit(
                    self.upload, self.token, self.position, self.hasher.state, bytes(self.buffer), self.etags
                )
        except DepotError:
            pass  # the state stays at the last save; the client resumes from HEAD's offset
