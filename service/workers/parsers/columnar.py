"""Parquet and Arrow IPC files: schema and sizes from their footers, never their data.

Both are read through the seekable, ranged-read view of the S3 object (``s3io.RangedReader``):
pyarrow seeks to the footer and reads it, so a 1 GiB file costs a few blocks. The trailer
is checked by hand first, so a footer length that claims more than ``MAX_FOOTER`` bytes
fails the file instead of being read. Row counts of an Arrow file come from each record
batch's message header (a few bytes per batch, the bodies are skipped)."""

import struct
from typing import Any, BinaryIO

from service.workers.parsers.errors import ParseError

MAX_FOOTER = 64 * 1024 * 1024  # bytes of footer metadata read; a larger claim fails the file
MAX_COLUMNS = 100  # columns listed in the summary; the count is always exact
MAX_TYPE = 200  # characters of a column's type kept in the summary


def _schema(schema: Any) -> list[dict[str, str]]:
    return [{"name": field.name[:MAX_TYPE], "type": str(field.type)[:MAX_TYPE]} for field in list(schema)[:MAX_COLUMNS]]


def _trailer(stream: BinaryIO, size: int, magic: bytes, what: str) -> int:
    """Check both magics; the footer's length, from the 4 bytes before the closing magic."""
    if size < 2 * len(magic) + 4:
        raise ParseError(f"invalid {what}: {size} bytes is too short")
    stream.seek(0)
    if stream.read(len(magic)) != magic:
        raise ParseError(f"invalid {what}: it does not start with {magic.decode()}")
    stream.seek(size - len(magic) - 4)
    trailer = stream.read(len(magic) + 4)
    if trailer[4:] != magic:
        raise ParseError(f"invalid {what}: it does not end with {magic.decode()} (truncated?)")
    (length,) = struct.unpack("<i", trailer[:4])
    if length <= 0 or length > min(MAX_FOOTER, size - 2 * len(magic) - 4):
        raise ParseError(
            f"invalid {what}: footer length {length} does not fit the file (or exceeds {MAX_FOOTER} bytes)"
        )
    return length


def parquet_summary(stream: BinaryIO, size: int) -> dict[str, Any]:
    """Schema, rows, row groups and compressed/uncompressed sizes from the footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _trailer(stream, size, b"PAR1", "Parquet")
    try:
        parquet = pq.ParquetFile(stream)
        meta = parquet.metadata
        schema = parquet.schema_arrow
        compressed = uncompressed = 0
        for number in range(meta.num_row_groups):
            group = meta.row_group(number)
            uncompressed += group.total_byte_size
            compressed += sum(group.column(c).total_compressed_size for c in range(group.num_columns))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ParseError(f"invalid Parquet: {' '.join(str(exc).split())[:300]}") from None
    return {
        "format": "parquet",
        "columns": len(schema),
        "schema": _schema(schema),
        "rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "compressed_size": compressed,
        "uncompressed_size": uncompressed,
        "created_by": (meta.created_by or "")[:MAX_TYPE] or None,
    }


# Arrow IPC file: "ARROW1" + padding, messages, footer (flatbuffer), int32 length, "ARROW1".
_RECORD_BATCH = 3  # MessageHeader union tag of a RecordBatch


class _Table:
    """Just enough of the flatbuffers wire format to read the fields named below."""

    def __init__(self, buffer: bytes, position: int) -> None:
        self.buffer, self.position = buffer, position
        (back,) = struct.unpack_from("<i", buffer, position)
        self.vtable = position - back
        (self.vtable_size,) = struct.unpack_from("<H", buffer, self.vtable)

    def _offset(self, field: int) -> int:
        slot = 4 + 2 * field
        return struct.unpack_from("<H", self.buffer, self.vtable + slot)[0] if slot < self.vtable_size else 0

    def scalar(self, field: int, fmt: str, default: int = 0) -> int:
        offset = self._offset(field)
        return struct.unpack_from(fmt, self.buffer, self.position + offset)[0] if offset else default

    def reference(self, field: int) -> int | None:
        """Where a table or vector field points (None when absent)."""
        offset = self._offset(field)
        if not offset:
            return None
        at = self.position + offset
        return at + struct.unpack_from("<I", self.buffer, at)[0]

    @classmethod
    def root(cls, buffer: bytes) -> "_Table":
        return cls(buffer, struct.unpack_from("<I", buffer, 0)[0])


def _batch_blocks(footer: bytes) -> list[tuple[int, int]]:
    """(offset, metadata length) of each record batch, from the footer's recordBatches vector."""
    vector = _Table.root(footer).reference(3)
    if vector is None:
        return []
    (count,) = struct.unpack_from("<I", footer, vector)
    return [struct.unpack_from("<qi", footer, vector + 4 + 24 * i) for i in range(count)]


def _batch_rows(stream: BinaryIO, offset: int, length: int, size: int) -> int:
    if offset < 0 or length < 8 or length > MAX_FOOTER or offset + length > size:
        raise ValueError(f"record batch block at {offset} does not fit the file")
    stream.seek(offset)
    data = stream.read(length)
    start = 8 if data[:4] == b"\xff\xff\xff\xff" else 4  # continuation marker (format ≥ 0.15)
    message = _Table.root(data[start:])
    if message.scalar(1, "<B") != _RECORD_BATCH:
        raise ValueError(f"the block at {offset} is not a record batch")
    header = message.reference(2)
    if header is None:
        raise ValueError(f"the record batch at {offset} has no header")
    return _Table(data[start:], header).scalar(0, "<q")


def arrow_summary(stream: BinaryIO, size: int) -> dict[str, Any]:
    """Schema, record batches and rows of an Arrow IPC file (``.arrow``, ``.feather`` v2)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    length = _trailer(stream, size, b"ARROW1", "Arrow IPC file")
    try:
        reader = ipc.open_file(stream)
        schema, batches = reader.schema, reader.num_record_batches
        stream.seek(size - 10 - length)
        blocks = _batch_blocks(stream.read(length))
        if len(blocks) != batches:
            raise ValueError("the footer's record batches do not match")
        rows = sum(_batch_rows(stream, offset, meta, size) for offset, meta in blocks)
    except (pa.ArrowException, OSError, ValueError, struct.error, IndexError) as exc:
        raise ParseError(f"invalid Arrow IPC file: {' '.join(str(exc).split())[:300]}") from None
    return {
        "format": "arrow",
        "columns": len(schema),
        "schema": _schema(schema),
        "record_batches": batches,
        "rows": rows,
    }
