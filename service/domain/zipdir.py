"""Count a ZIP's central-directory entries by walking their headers, whatever the end record claims.

The end record's entry count is just a number the archive states; a hostile one says 1
while its directory holds a million headers, and ``zipfile`` would build all of them. This
walk reads only each header's fixed part (46 bytes), skips its variable part, and stops
one entry past the limit, so its cost is bounded by the limit, not by the archive. The
directory can be walked piece by piece (ranged reads), never held whole."""

import struct
from typing import BinaryIO

HEADER = struct.Struct("<4s24xHHH12x")  # signature; name, extra and comment lengths at offset 28
SIGNATURE = b"PK\x01\x02"
PIECE = 256 * 1024  # bytes of directory read at once by ``count_entries``


class BadDirectory(ValueError):
    """The central directory is not a sequence of entry headers."""


def walk(piece: bytes, limit: int) -> tuple[int, int]:
    """Headers in ``piece`` (directory bytes that start at a header), at most ``limit + 1``:
    (headers counted, offset of the next header, which may lie past the piece)."""
    count = at = 0
    while count <= limit and at + HEADER.size <= len(piece):
        signature, name, extra, comment = HEADER.unpack_from(piece, at)
        if signature != SIGNATURE:
            raise BadDirectory("bad entry header in the central directory")
        count += 1
        at += HEADER.size + name + extra + comment
    return count, at


def count_entries(stream: BinaryIO, size: int, limit: int) -> int:
    """Entries in the ``size`` directory bytes at the stream's position; at most ``limit + 1``
    (more than ``limit`` means "too many": the walk stops there)."""
    start, count, at = stream.tell(), 0, 0
    while count <= limit and at + HEADER.size <= size:
        stream.seek(start + at)
        piece = stream.read(min(PIECE, size - at))
        if len(piece) < HEADER.size:
            raise BadDirectory("the central directory is truncated")
        found, used = walk(piece, limit - count)
        count, at = count + found, at + used
    return count
