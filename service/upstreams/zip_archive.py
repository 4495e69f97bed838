"""ZIP archives already in S3: read the central directory by ranged GETs, vet it, stream entries.

The API stores the upload first, then ``inspect`` reads only the archive's tail (end record
and central directory) and refuses traversal, absolute or drive paths, symlinks,
encryption and bombs (total size, ratio, entry count) before answering; the entries are
counted by walking the directory's headers (the end record's count may lie) before
``zipfile`` builds any, and the CPU-bound vetting runs in a thread. The worker then
inflates entry by entry with bounded output per step, checking size and CRC against the
directory, so a lying archive cannot grow past what was vetted."""

import asyncio
import io
import re
import stat
import struct
import zipfile as stdzip
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from service.domain.models import check_local_name, missing_requirements, parse_requirements
from service.domain.zipdir import HEADER, PIECE, BadDirectory, walk
from service.errors import InvalidInput, NotFound
from service.settings import Settings
from service.storage.reader import ObjectReader
from service.upstreams.base import CHUNK, SourceFile

EOCD = struct.Struct("<4s4H2LH")
EOCD64_LOCATOR = struct.Struct("<4sLQL")
EOCD64 = struct.Struct("<4sQ2H2L4Q")
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
TAIL = 65_535 + EOCD.size + EOCD64_LOCATOR.size + EOCD64.size
MAX_DIRECTORY = 64 * 1024 * 1024
HEADER_SIZE = HEADER.size
SMALL_ENTRY = 4096  # ratios of tiny files say nothing about bombs
IGNORED_TOP = re.compile(r"^(__MACOSX|\..*)$")
EMPTY = "the ZIP archive is empty: it holds no files (only folders, or nothing)"


@dataclass(frozen=True)
class ZipEntry:
    name: str
    offset: int
    packed: int
    size: int
    method: int
    crc: int


class _Tail(io.RawIOBase):
    """A read-only file that holds only bytes ``start..`` of a larger object: enough for zipfile."""

    def __init__(self, start: int, data: bytes, size: int) -> None:
        self.start, self.data, self.size, self.pos = start, data, size, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if self.pos < self.start:
            raise InvalidInput("the ZIP directory points outside the archive")
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        data = self.data[self.pos - self.start:end - self.start]
        self.pos += len(data)
        return data


async def _count_entries(objects: ObjectReader, bucket: str, key: str, start: int, end: int, limit: int) -> None:
    """Walk the directory's headers by ranged reads (never the end record's count) and stop
    one past ``limit``: a lying directory costs at most ``limit`` headers' bytes."""
    count = 0
    while count <= limit and start + HEADER_SIZE <= end:
        piece = await objects.read_range(bucket, key, start, min(end, start + PIECE) - 1)
        try:
            found, used = walk(piece, limit - count)
        except BadDirectory as exc:
            raise InvalidInput(f"not a valid ZIP archive: {exc}") from None
        count, start = count + found, start + used
    if count > limit:
        raise InvalidInput(f"the archive has more than {limit} entries; the limit is {limit}")


async def _directory_bytes(objects: ObjectReader, bucket: str, key: str, size: int, max_entries: int) -> _Tail:
    tail_start = max(0, size - TAIL)
    tail = await objects.read_range(bucket, key, tail_start, size - 1)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < EOCD.size:
        raise InvalidInput("not a ZIP archive (no end of central directory)")
    _, _, _, _, count, cd_size, cd_offset, _ = EOCD.unpack_from(tail, at)
    end_of_cd = tail_start + at
    locator = at - EOCD64_LOCATOR.size
    has_locator = locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07"
    if 0xFFFF in (count,) or 0xFFFFFFFF in (cd_size, cd_offset) or has_locator:
        if not has_locator:
            raise InvalidInput("broken ZIP64 archive")
        z64 = EOCD64_LOCATOR.unpack_from(tail, locator)[2]
        record = tail[z64 - tail_start:z64 - tail_start + EOCD64.size] if z64 >= tail_start else b""
        if len(record) < EOCD64.size or record[:4] != b"PK\x06\x06":
            raise InvalidInput("broken ZIP64 archive")
        fields = EOCD64.unpack(record)
        count, cd_size = fields[7], fields[8]
        end_of_cd = z64
    if count > max_entries:
        raise InvalidInput(f"the archive has {count} entries; the limit is {max_entries}")
    if count == 0 and cd_size == 0:
        raise InvalidInput(EMPTY)
    cd_start = end_of_cd - cd_size
    if cd_start < 0 or cd_size > MAX_DIRECTORY:
        raise InvalidInput("the ZIP central directory is broken or too large")
    await _count_entries(objects, bucket, key, cd_start, end_of_cd, max_entries)  # it may be huge and lie
    if cd_start < tail_start:
        head = await objects.read_range(bucket, key, cd_start, tail_start - 1)
        tail, tail_start = head + tail, cd_start
    return _Tail(tail_start, tail, size)


def _check(info: stdzip.ZipInfo) -> None:
    name = info.orig_filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise InvalidInput(f"the archive holds an absolute path: {name!r}")
    if ".." in parts or "\\" in name or "\0" in name:
        raise InvalidInput(f"the archive holds an unsafe path: {name!r}")
    if info.flag_bits & 0x1:
        raise InvalidInput(f"the archive holds an encrypted entry: {name!r}")
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        raise InvalidInput(f"the archive holds a symbolic link: {name!r}")
    if not name.endswith("/") and info.compress_type not in (stdzip.ZIP_STORED, stdzip.ZIP_DEFLATED):
        raise InvalidInput(f"unsupported compression in {name!r} (only stored and deflate)")


async def read_directory(objects: ObjectReader, bucket: str, key: str, size: int, settings: Settings) -> list[ZipEntry]:
    """Every file entry of the archive, or a 400 that names the first problem (vetted in a
    thread: a large directory must not stall the API's event loop)."""
    tail = await _directory_bytes(objects, bucket, key, size, settings.model_zip_max_entries)
    return await asyncio.to_thread(_vet, tail, settings)


def _vet(tail: _Tail, settings: Settings) -> list[ZipEntry]:
    try:
        infos = stdzip.ZipFile(tail).infolist()
    except (stdzip.BadZipFile, ValueError, struct.error, EOFError) as exc:
        raise InvalidInput(f"not a valid ZIP archive: {exc}") from None
    if len(infos) > settings.model_zip_max_entries:
        raise InvalidInput(f"the archive has {len(infos)} entries; the limit is {settings.model_zip_max_entries}")
    entries, seen, total, packed = [], set(), 0, 0
    for info in infos:
        _check(info)
        if info.orig_filename.endswith("/"):
            continue
        if info.orig_filename in seen:
            raise InvalidInput(f"the archive holds {info.orig_filename!r} twice")
        seen.add(info.orig_filename)
        if info.file_size > SMALL_ENTRY and info.file_size > settings.model_zip_max_ratio * max(info.compress_size, 1):
            raise InvalidInput(f"{info.orig_filename!r} expands more than {settings.model_zip_max_ratio}x (zip bomb?)")
        total += info.file_size
        packed += info.compress_size
        entries.append(ZipEntry(info.orig_filename, info.header_offset, info.compress_size, info.file_size,
                                info.compress_type, info.CRC))
    if not entries:
        raise InvalidInput(EMPTY)
    if total > settings.model_zip_max_unpacked:
        raise InvalidInput(f"the archive unpacks to {total} bytes; the limit is {settings.model_zip_max_unpacked}")
    if total > SMALL_ENTRY and total > settings.model_zip_max_ratio * max(packed, 1):
        raise InvalidInput(f"the archive expands more than {settings.model_zip_max_ratio}x (zip bomb?)")
    return entries


def plan_models(entries: list[ZipEntry], model_name: str | None, fallback: str,
                settings: Settings) -> dict[str, list[tuple[str, ZipEntry]]]:
    """Model name → (path in model, entry), as the contract says: each top-level folder is a
    model named after it; files at the archive root form one more model, named ``model_name``
    (or after the ZIP file). 404 when nothing holds a model."""
    requirements = parse_requirements(settings.model_required_files)
    tops = {e.name.split("/", 1)[0] for e in entries if "/" in e.name and not IGNORED_TOP.match(e.name.split("/")[0])}
    loose = [e for e in entries if "/" not in e.name and not IGNORED_TOP.match(e.name)]
    groups: dict[str, list[tuple[str, ZipEntry]]] = {}
    for top in sorted(tops):
        groups[check_local_name(top)] = [(e.name.split("/", 1)[1], e) for e in entries if e.name.startswith(top + "/")]
    if loose:
        root = check_local_name(model_name) if model_name is not None else fallback
        if root in groups:
            raise InvalidInput(f"the files at the archive root and the folder {root!r} would both be model {root!r}")
        groups[root] = [(e.name, e) for e in loose]
    valid = {n: files for n, files in groups.items()
             if files and not missing_requirements([p for p, _ in files], requirements)}
    if not valid:
        need = "; ".join(" or ".join(g) for g in requirements)
        raise NotFound(f"no valid model in the archive (each needs: {need})")
    return valid


def entry_source(objects: ObjectReader, bucket: str, key: str, entry: ZipEntry, path: str) -> SourceFile:
    async def chunks() -> AsyncIterator[bytes]:
        header = await objects.read_range(bucket, key, entry.offset, entry.offset + LOCAL_HEADER.size - 1)
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != b"PK\x03\x04":
            raise InvalidInput(f"{entry.name!r}: bad local header")
        start = entry.offset + LOCAL_HEADER.size + fields[9] + fields[10]
        inflate = zlib.decompressobj(-15) if entry.method == stdzip.ZIP_DEFLATED else None
        produced, crc = 0, 0

        def account(data: bytes) -> bytes:
            nonlocal produced, crc
            produced += len(data)
            if produced > entry.size:
                raise InvalidInput(f"{entry.name!r} unpacks past its declared size")
            crc = zlib.crc32(data, crc)
            return data

        if entry.packed:
            stream = await objects.open_read(bucket, key, start, start + entry.packed - 1)
            async for raw in stream.chunks:
                if inflate is None:
                    yield account(raw)
                    continue
                data = raw
                while data:
                    out = inflate.decompress(data, CHUNK)
                    data = inflate.unconsumed_tail
                    if out:
                        yield account(out)
        while inflate is not None and (out := inflate.decompress(b"", CHUNK)):
            yield account(out)
        if produced != entry.size or crc != entry.crc:
            raise InvalidInput(f"{entry.name!r} is corrupt (size or CRC does not match)")

    return SourceFile(path=path, size=entry.size, sha256=None, chunks=chunks)
