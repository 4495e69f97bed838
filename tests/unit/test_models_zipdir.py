"""The ZIP central-directory reader over ranged reads: ZIP64, prepended data, entry streaming."""

import asyncio
import io
import os
import zipfile

import pytest

from service.errors import InvalidInput
from service.settings import Settings
from service.upstreams import zip_archive as zipimport


class BytesStore:
    """Just the ranged reads the reader needs, over bytes in memory (the real S3 path is covered
    by tests/integration/test_models_zip.py)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    async def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        self.reads.append((start, end))
        return self.data[start:end + 1]

    async def open_read(self, bucket: str, key: str, start: int = 0, end: int | None = None):
        data = self.data[start:(len(self.data) if end is None else end + 1)]

        async def chunks():
            for at in range(0, len(data), 1000):
                yield data[at:at + 1000]

        return type("Stream", (), {"chunks": chunks()})()


def make(files: dict[str, bytes], prefix: bytes = b"", zip64: bool = False) -> bytes:
    raw = io.BytesIO()
    raw.write(prefix)
    limit = zipfile.ZIP64_LIMIT
    if zip64:
        zipfile.ZIP64_LIMIT = 10  # force ZIP64 end records with small data
    try:
        with zipfile.ZipFile(raw, "a" if prefix else "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    finally:
        zipfile.ZIP64_LIMIT = limit
    return raw.getvalue()


def unpack(data: bytes, settings: Settings) -> dict[str, bytes]:
    store = BytesStore(data)

    async def run() -> dict[str, bytes]:
        entries = await zipimport.read_directory(store, "b", "k", len(data), settings)
        out = {}
        for entry in entries:
            source = zipimport.entry_source(store, "b", "k", entry, entry.name)
            out[entry.name] = b"".join([c async for c in source.chunks()])
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("prefix,zip64", [(b"", False), (b"", True), (b"#!/bin/sh\nexit 0\n" * 50, False)])
def test_directory_and_entries(prefix, zip64):
    files = {"m/config.json": b"{}", "m/weights.bin": os.urandom(300_000), "m/zeros": bytes(3000)}
    assert unpack(make(files, prefix, zip64), Settings()) == files


def test_only_the_tail_is_read_to_vet():
    data = make({"m/big.bin": os.urandom(2_000_000)})
    store = BytesStore(data)
    asyncio.run(zipimport.read_directory(store, "b", "k", len(data), Settings()))
    assert sum(end - start + 1 for start, end in store.reads) < 70_000


def test_lying_sizes_are_caught_while_unpacking():
    data = bytearray(make({"m/a.txt": b"hello world" * 100}))
    at = data.find(b"PK\x01\x02")
    data[at + 24:at + 28] = (10).to_bytes(4, "little")  # central directory: uncompressed size 10
    with pytest.raises(InvalidInput, match="declared size|corrupt"):
        unpack(bytes(data), Settings())
