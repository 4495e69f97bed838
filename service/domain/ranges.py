"""HTTP ``Range`` headers (RFC 9110 §14): one byte range, as S3 serves it."""

import re

from service.errors import RangeNotSatisfiable

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")  # fullmatch, ASCII digits only


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive, or None for the whole file.

    Multiple ranges and malformed headers are ignored (the whole file is sent), as the
    RFC allows; a well-formed range outside the file is a 416."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip(" \t"))
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(size)
    return start, end
