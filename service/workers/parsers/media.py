"""Audio (duration, sample rate, channels) with mutagen, and archive listings with bomb limits.

Archives are listed, never extracted: a ZIP by its central directory (seekable ranged
reads, a few blocks), a tar (plain or gzip) by walking its headers in stream mode. Declared
sizes are checked against the limits as they are read, so a bomb fails fast; a ZIP's
directory entries are counted before any is built (its end record may lie about the count),
and a tar's pax or long-name records are size-checked before tarfile reads them."""

import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from service.domain.zipdir import count_entries
from service.upstreams.tarstream import MAX_META, oversized_meta
from service.workers.parsers.bounds import clip
from service.workers.parsers.errors import ParseError

SAMPLE_NAMES = 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_unpacked: int
    max_ratio: int
    max_name: int = 1024  # characters of a member name kept in the summary


def audio_summary(stream: BinaryIO, ext: str) -> dict[str, Any]:
    import mutagen

    try:
        audio = mutagen.File(stream)
    except mutagen.MutagenError as exc:
        raise ParseError(f"unreadable {ext[1:].upper()} audio: {exc}") from None
    if audio is None or getattr(audio, "info", None) is None:
        raise ParseError(f"unreadable {ext[1:].upper()} audio: no audio stream found")
    info = audio.info
    length = float(getattr(info, "length", 0) or 0)
    if length <= 0:
        raise ParseError(f"unreadable {ext[1:].upper()} audio: no samples")
    return {
        "format": type(audio).__name__.lower(),
        "duration_seconds": round(length, 3),
        "sample_rate": getattr(info, "sample_rate", None),
        "channels": getattr(info, "channels", None),
        "bitrate": getattr(info, "bitrate", None),
    }


def _unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


class _Tally:
    def __init__(self, limits: ArchiveLimits, packed_size: int) -> None:
        self.limits, self.packed = limits, packed_size
        self.members = self.files = self.directories = self.unpacked = self.unsafe = 0
        self.names: list[str] = []

    def add(self, name: str, size: int, is_dir: bool, packed: int | None = None) -> None:
        self.members += 1
        if self.members > self.limits.max_entries:
            raise ParseError(f"archive has more than {self.limits.max_entries} members")
        self.directories += is_dir
        self.files += not is_dir
        self.unpacked += size
        self.unsafe += _unsafe(name)
        if len(self.names) < SAMPLE_NAMES:
            self.names.append(clip(name, self.limits.max_name))
        if self.unpacked > self.limits.max_unpacked:
            raise ParseError(f"archive unpacks to more than {self.limits.max_unpacked} bytes")
        if packed is not None and size > self.limits.max_ratio * max(packed, 1):
            raise ParseError(f"member {clip(name, 200)!r} expands more than {self.limits.max_ratio}x: a zip bomb?")

    def summary(self, kind: str) -> dict[str, Any]:
        return {"format": kind, "members": self.members, "files": self.files, "directories": self.directories,
                "total_uncompressed": self.unpacked, "unsafe_names": self.unsafe, "names": self.names}


def _count_zip_entries(stream: BinaryIO, limits: ArchiveLimits) -> None:
    """Walk the central directory's headers (never trusting the end record's count) and fail
    past the entry limit before zipfile builds an object per entry."""
    end = zipfile._EndRecData(stream)  # the end-record reader ZipFile itself uses
    if end is None:
        raise ParseError("invalid ZIP: no end of central directory")
    cd_size = end[zipfile._ECD_SIZE]
    cd_start = end[zipfile._ECD_LOCATION] - cd_size
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        cd_start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    if cd_start < 0:
        raise ParseError("invalid ZIP: the central directory lies outside the file")
    stream.seek(cd_start)
    if count_entries(stream, cd_size, limits.max_entries) > limits.max_entries:
        raise ParseError(f"archive has more than {limits.max_entries} members")
    stream.seek(0)


def zip_summary(stream: BinaryIO, size: int, limits: ArchiveLimits) -> dict[str, Any]:
    tally = _Tally(limits, size)
    try:
        _count_zip_entries(stream, limits)
        with zipfile.ZipFile(stream) as archive:
            for info in archive.infolist():
                tally.add(info.filename, info.file_size, info.is_dir(), info.compress_size)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ParseError(f"invalid ZIP: {exc}") from None
    return tally.summary("zip")


class _CappedTarInfo(tarfile.TarInfo):
    """Refuses an oversized pax or GNU long-name record before tarfile reads it whole."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if oversized_meta(self):
            raise tarfile.HeaderError(f"a pax or long-name record over {MAX_META} bytes")
        return super()._proc_member(tarfile_)


def tar_summary(stream: BinaryIO, size: int, limits: ArchiveLimits, ext: str) -> dict[str, Any]:
    """Members of a tar (``r|*``: plain or compressed); a ``.gz`` that is no tar is one member."""
    tally = _Tally(limits, size)
    try:
        with tarfile.open(fileobj=stream, mode="r|*", tarinfo=_CappedTarInfo) as archive:
            for member in archive:
                tally.add(member.name, member.size, member.isdir())
                if tally.unpacked > limits.max_ratio * max(size, 1):
                    raise ParseError(f"archive expands more than {limits.max_ratio}x: a bomb?")
    except tarfile.ReadError as exc:
        if ext == ".gz" and tally.members == 0:
            return _gzip_summary(stream, size, limits)
        raise ParseError(f"invalid {ext[1:]} archive: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ParseError(f"invalid {ext[1:]} archive: {exc}") from None
    return tally.summary("tar.gz" if ext in (".tgz", ".gz") else "tar")


def _gzip_summary(stream: BinaryIO, size: int, limits: ArchiveLimits) -> dict[str, Any]:
    """A plain gzip file: its decompressed size, counted in a stream, capped by the limits."""
    stream.seek(0)
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    unpacked = 0
    cap = min(limits.max_unpacked, limits.max_ratio * max(size, 1))
    try:
        while chunk := stream.read(64 * 1024):
            unpacked += len(inflate.decompress(chunk, 1024 * 1024))
            while inflate.unconsumed_tail:
                unpacked += len(inflate.decompress(inflate.unconsumed_tail, 1024 * 1024))
                if unpacked > cap:
                    break
            if unpacked > cap:
                raise ParseError(f"gzip expands to more than {cap} bytes: a bomb?")
    except zlib.error as exc:
        raise ParseError(f"invalid gzip: {exc}") from None
    if not inflate.eof:
        raise ParseError("invalid gzip: truncated")
    return {"format": "gzip", "members": 1, "files": 1, "directories": 0, "total_uncompressed": unpacked,
            "unsafe_names": 0, "names": []}
