"""Count a ZIP's central-directory entries by walking their headers, whatever the end record claims.

The end record's entry count is just a number the archive states; a hostile one says 1
while its directory holds a million headers, and ``zipfile`` would build all of them. This
walk reads only each header's fixed part (46 bytes) and skips its variable part, and stops
one entry past the limit, so its cost is bounded by the limit, not by the archive."""

import struct
from typing import BinaryIO

HEADER = struct.Struct("<4s24xHHH12x")  # signature; name, extra and comment lengths at offset 28
SIGNATURE = b"PK\x01\x02"


class BadDirectory(ValueError):
    """The central directory is not a sequence of entry headers."""


def count_entries(stream: BinaryIO, size: int, limit: int) -> int:
    """Entries in the ``size`` directory bytes at the stream's position; at most ``limit + 1``
    (more than ``limit`` means "too many": the walk stops there)."""
    count = walked = 0
    while walked + HEADER.size <= size and count <= limit:
        raw = stream.read(HEADER.size)
        if len(raw) < HEADER.size:
            raise BadDirectory("the central directory is truncated")
        signature, name, extra, comment = HEADER.unpack(raw)
        if signature != SIGNATURE:
            break  # the directory ends here (zip64 end records follow it)
        count += 1
        stream.seek(name + extra + comment, 1)
        walked += HEADER.size + name + extra + comment
    return count
