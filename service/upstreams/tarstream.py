"""Read a gzipped tar as it downloads: entries come out one by one, nothing touches disk.

``tarfile`` can stream (``r|gz``) but only over a blocking file object; this small reader
does the same over async chunks, using ``TarInfo.frombuf`` for the header blocks and
handling the pax and GNU long-name records GitHub's archives use."""

import tarfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from service.errors import InvalidInput

BLOCK = 512
MAX_META = 1024 * 1024  # pax or long-name records larger than this are refused
META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
STEP = 1024 * 1024  # most bytes inflated at once


def oversized_meta(info: tarfile.TarInfo) -> bool:
    """A pax or GNU long-name record over ``MAX_META``: refuse it before reading it (tarfile
    would read the whole record into memory; the ingestion parser uses this check too)."""
    return info.type in META_TYPES and info.size > MAX_META


@dataclass
class TarEntry:
    path: str
    size: int
    kind: bytes  # tarfile.REGTYPE, DIRTYPE, SYMTYPE, ...

    @property
    def is_file(self) -> bool:
        return self.kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


class _Reader:
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.inflate = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        self.buffer = bytearray()
        self.pending = b""  # compressed input not yet inflated (output is capped per step)
        self.eof = False

    async def _fill(self, want: int) -> None:
        """Inflate until ``want`` bytes are buffered: memory stays near ``want`` + one step,
        however well the archive compresses."""
        while len(self.buffer) < want and not self.eof:
            if not self.pending:
                try:
                    self.pending = await anext(self.chunks)
                except StopAsyncIteration:
                    self.buffer += self.inflate.flush()
                    self.eof = True
                    break
            try:
                self.buffer += self.inflate.decompress(self.pending, STEP)
            except zlib.error as exc:
                raise InvalidInput(f"the archive is not valid gzip: {exc}") from None
            self.pending = self.inflate.unconsumed_tail

    async def read(self, n: int) -> bytes:
        await self._fill(n)
        if len(self.buffer) < n:
            raise InvalidInput("the archive ended in the middle of an entry")
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def stream(self, n: int, chunk: int) -> AsyncIterator[bytes]:
        while n > 0:
            await self._fill(min(n, chunk))
            take = min(n, chunk, len(self.buffer))
            if take == 0:
                raise InvalidInput("the archive ended in the middle of an entry")
            data = bytes(self.buffer[:take])
            del self.buffer[:take]
            n -= take
            yield data


def _pax(raw: bytes) -> dict[str, str]:
    """``<len> key=value\\n`` records."""
    fields, pos = {}, 0
    while pos < len(raw):
        space = raw.index(b" ", pos)
        length = int(raw[pos:space])
        key, _, value = raw[space + 1:pos + length - 1].partition(b"=")
        fields[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return fields


async def tar_entries(
    chunks: AsyncIterator[bytes], chunk: int = 1024 * 1024
) -> AsyncIterator[tuple[TarEntry, AsyncIterator[bytes]]]:
    """Yield (entry, data chunks); a caller that skips an entry's data gets it drained for it."""
    reader = _Reader(chunks)
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        await reader._fill(BLOCK)
        if len(reader.buffer) < BLOCK:
            return
        header = await reader.read(BLOCK)
        if header == bytes(BLOCK):
            return
        try:
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise InvalidInput(f"the archive has a bad tar header: {exc}") from None
        padded = -(-info.size // BLOCK) * BLOCK
        if info.type in META_TYPES:
            if oversized_meta(info):
                raise InvalidInput("the archive has an oversized metadata record")
            raw = (await reader.read(padded))[: info.size]
            if info.type == tarfile.XHDTYPE:
                pax = _pax(raw)
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                long_name = raw.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        size = int(pax.get("size", info.size))
        path = pax.get("path") or long_name or info.name
        long_name, pax = None, {}
        padded = -(-size // BLOCK) * BLOCK
        entry = TarEntry(path=path, size=size, kind=info.type)
        data = reader.stream(size, chunk)
        yield entry, data
        async for _ in data:  # whatever the caller left unread
            pass
        if padded > size:
            await reader.read(padded - size)
