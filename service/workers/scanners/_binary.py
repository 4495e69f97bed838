"""Bounded reads of a binary header: every length is checked against what the file holds.

A scanner reads a seekable file object (in the worker, ranged GETs of the S3 object) and
never allocates more than a claimed length that fits inside the file, so a header that
claims 2^63 bytes is a finding, never a MemoryError."""

import struct
from typing import BinaryIO

SKIP_CHUNK = 1024 * 1024


class Finding(Exception):
    """The file is unsafe or malformed: the message is the finding shown to the user."""


class Reader:
    def __init__(self, f: BinaryIO, size: int, what: str) -> None:
        self.f, self.size, self.what = f, size, what
        self.f.seek(0)

    @property
    def position(self) -> int:
        return self.f.tell()

    @property
    def remaining(self) -> int:
        return self.size - self.f.tell()

    def read(self, n: int, what: str = "") -> bytes:
        if n < 0 or n > self.remaining:
            raise Finding(
                f"{what or self.what} claims {n} bytes at offset {self.position}, "
                f"but the file has {self.remaining} left"
            )
        data = self.f.read(n)
        if len(data) != n:
            raise Finding(f"{self.what} is truncated at offset {self.position}")
        return data

    def skip(self, n: int, what: str = "") -> None:
        if n < 0 or n > self.remaining:
            raise Finding(
                f"{what or self.what} claims {n} bytes at offset {self.position}, "
                f"but the file has {self.remaining} left"
            )
        self.f.seek(n, 1)

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))

    def u32(self) -> int:
        return self.unpack("<I")[0]

    def u64(self) -> int:
        return self.unpack("<Q")[0]
