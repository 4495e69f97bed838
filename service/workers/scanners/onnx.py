"""ONNX: a protobuf ``ModelProto`` whose fields fit the file and whose external data stays inside.

ONNX has no magic; a model is a protobuf message whose first field is normally
``ir_version``. The walk reads only tags and lengths and skips payloads, so it costs a
few ranged reads whatever the model's size: every length must fit its parent, an
``ir_version`` and a ``graph`` must be there, and an initializer's external-data
``location`` must be a plain relative path (a known path-traversal trick)."""

from typing import Any, BinaryIO

from service.workers.scanners._binary import Finding, Reader

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
IR_VERSION, GRAPH = 1, 7  # ModelProto
INITIALIZER = 5  # GraphProto
EXTERNAL_DATA = 13  # TensorProto
MAX_IR_VERSION = 100
MAX_FIELDS = 10_000_000


def scan(f: BinaryIO, size: int) -> dict[str, Any]:
    reader = Reader(f, size, "ONNX model")
    found: dict[int, Any] = {}
    for number, kind, value in _fields(reader, size):
        if number == IR_VERSION and kind == VARINT:
            found[IR_VERSION] = value
        elif number == GRAPH and kind == LENGTH:
            found[GRAPH] = True
            start = reader.position
            initializers = _graph(reader, start + value)
            reader.f.seek(start + value)
            found["initializers"] = initializers
        elif kind == LENGTH:
            reader.skip(value)
    ir_version = found.get(IR_VERSION)
    if not isinstance(ir_version, int) or not 1 <= ir_version <= MAX_IR_VERSION:
        raise Finding("no valid ir_version: not an ONNX model")
    if GRAPH not in found:
        raise Finding("no graph: not an ONNX model")
    return {"ir_version": ir_version, "initializers": found.get("initializers", 0)}


def _graph(reader: Reader, end: int) -> int:
    count = 0
    for number, kind, value in _fields(reader, end):
        if kind != LENGTH:
            continue
        start = reader.position
        if number == INITIALIZER:
            count += 1
            _tensor(reader, start + value)
        reader.f.seek(start + value)
    return count


def _tensor(reader: Reader, end: int) -> None:
    for number, kind, value in _fields(reader, end):
        if kind != LENGTH:
            continue
        start = reader.position
        if number == EXTERNAL_DATA:
            entry = dict(_entry(reader, start + value))
            if entry.get(1) == "location" and not _plain_relative(entry.get(2, "")):
                raise Finding(f"an initializer's external data points outside the model: {entry.get(2)!r}")
        reader.f.seek(start + value)


def _entry(reader: Reader, end: int):
    for number, kind, value in _fields(reader, end):
        if kind == LENGTH:
            yield number, reader.read(min(value, 4096)).decode("utf-8", "replace")
            reader.f.seek(reader.position + max(value - 4096, 0))


def _plain_relative(path: str) -> bool:
    parts = path.replace("\\", "/").split("/")
    return bool(path) and not path.startswith(("/", "\\")) and ":" not in path and ".." not in parts


def _fields(reader: Reader, end: int):
    """(field number, wire type, value or payload length) up to ``end``; payloads are left unread."""
    for _ in range(MAX_FIELDS):
        if reader.position >= end:
            return
        key = _varint(reader, end)
        number, kind = key >> 3, key & 7
        if number == 0:
            raise Finding(f"field number 0 at offset {reader.position}: not a protobuf message")
        if kind == VARINT:
            value = _varint(reader, end)
        elif kind in (FIXED64, FIXED32):
            value = None
            reader.skip(8 if kind == FIXED64 else 4)
        elif kind == LENGTH:
            value = _varint(reader, end)
            if value > end - reader.position:
                raise Finding(f"field {number} claims {value} bytes, more than its message holds")
        else:
            raise Finding(f"wire type {kind} (field {number}) is not used by ONNX")
        if reader.position > end:
            raise Finding("a field runs past the end of its message")
        yield number, kind, value
    raise Finding("more fields than any model has")


def _varint(reader: Reader, end: int) -> int:
    value = 0
    for shift in range(0, 70, 7):
        if reader.position >= end:
            raise Finding("a varint runs past the end of its message")
        byte = reader.read(1)[0]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
    raise Finding("a varint longer than 10 bytes")
