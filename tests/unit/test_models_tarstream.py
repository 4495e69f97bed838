"""The streaming tar reader against archives made by ``tarfile`` (pax, GNU long names, links)."""

import asyncio
import gzip
import io
import os
import tarfile

import pytest

from service.errors import InvalidInput
from service.upstreams.tarstream import tar_entries


def archive(fmt: int, members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt, pax_headers={"comment": "abc"} if fmt == tarfile.PAX_FORMAT
                      else None) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return gzip.compress(raw.getvalue())


async def chunked(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read(data: bytes, chunk: int = 777, take: set[str] | None = None) -> dict[str, bytes | None]:
    async def run() -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        async for entry, body in tar_entries(chunked(data, chunk), chunk=1000):
            if entry.is_file and (take is None or entry.path in take):
                out[entry.path] = b"".join([piece async for piece in body])
            else:
                out[entry.path] = None  # left unread: the reader must skip it
        return out

    return asyncio.run(run())


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_members_come_out_whole(fmt):
    long_name = "top/" + "deep/" * 30 + "weights.bin"  # > 100 bytes: pax or GNU long-name records
    members = {"top/config.json": b"{}", "top/empty": b"", "top/big.bin": os.urandom(70_000),
               **({long_name: os.urandom(1234)} if fmt != tarfile.USTAR_FORMAT else {})}
    got = read(archive(fmt, members, {"top/link": "../../etc/passwd"}))
    assert {k: v for k, v in got.items() if v is not None} == members
    assert got["top/link"] is None


def test_unread_entries_are_skipped():
    members = {"a": os.urandom(5000), "b": b"second", "c": os.urandom(3000)}
    assert read(archive(tarfile.PAX_FORMAT, members), take={"b"}) == {"a": None, "b": b"second", "c": None}


def test_highly_compressible_members_stream_in_bounded_steps():
    members = {"zeros": bytes(8 * 1024 * 1024)}
    assert read(archive(tarfile.PAX_FORMAT, members), chunk=64 * 1024) == members


def test_truncated_or_garbage_archives_are_refused():
    whole = archive(tarfile.PAX_FORMAT, {"a": os.urandom(20_000)})
    with pytest.raises(InvalidInput):
        read(whole[: len(whole) // 2])
    with pytest.raises(InvalidInput):
        read(b"this is not gzip at all" * 10)
