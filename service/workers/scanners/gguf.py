"""GGUF (llama.cpp): magic, version, counts that fit the file, tensors inside the data.

Layout: ``GGUF``, a uint32 version (1-3), tensor and key/value counts, the key/values,
the tensor infos (name, dims, ggml type, offset), then the data at the next multiple of
``general.alignment``. Every count and length is checked against the bytes left before
it is used, so a file that claims 2^40 tensors is refused after reading 24 bytes."""

import math
from typing import Any, BinaryIO

from service.workers.scanners._binary import Finding, Reader

MAX_DIMS = 8
MIN_TENSOR_INFO = 8 + 4 + 8 + 4 + 8  # empty name, one dim, type, offset
MIN_KV = 8 + 4 + 1  # empty key, type, one-byte value
# ggml type id -> (elements per block, bytes per block), as in ggml's type traits.
GGML_TYPES = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
}
# GGUF value type id -> fixed size in bytes (8 string and 9 array are variable).
SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY, UINT32 = 8, 9, 4


def scan(f: BinaryIO, size: int) -> dict[str, Any]:
    reader = Reader(f, size, "GGUF header")
    if size < 24 or reader.read(4) != b"GGUF":
        raise Finding("not a GGUF file (magic)")
    version = reader.u32()
    if version not in (1, 2, 3):
        raise Finding(f"unsupported GGUF version {version}")
    count = reader.u32 if version == 1 else reader.u64
    tensors, kvs = count(), count()
    if tensors * MIN_TENSOR_INFO > reader.remaining:
        raise Finding(f"claims {tensors} tensors, more than the file can describe")
    if kvs * MIN_KV > reader.remaining:
        raise Finding(f"claims {kvs} metadata entries, more than the file can hold")
    alignment = 32
    for _ in range(kvs):
        key = _string(reader, count)
        kind = reader.u32()
        value = _value(reader, kind, count, depth=0)
        if key == "general.alignment":
            if kind != UINT32 or not value or value & (value - 1):
                raise Finding("general.alignment must be a power of two (uint32)")
            alignment = value
    spans = [_tensor(reader, count) for _ in range(tensors)]
    data_start = -(-reader.position // alignment) * alignment
    data_size = size - data_start
    if data_size < 0:
        raise Finding("the data section starts past the end of the file")
    for name, offset, length in spans:
        if offset % alignment or offset + length > data_size:
            raise Finding(f"tensor {name!r} lies outside the data section ({offset}+{length} > {data_size})")
    return {"version": version, "tensors": tensors, "metadata_entries": kvs}


def _string(reader: Reader, count) -> str:
    return reader.read(count(), "a GGUF string").decode("utf-8", "replace")


def _value(reader: Reader, kind: int, count, depth: int) -> Any:
    if kind in SCALARS:
        data = reader.read(SCALARS[kind])
        return int.from_bytes(data, "little") if kind == UINT32 else None
    if kind == STRING:
        reader.skip(count(), "a GGUF string")
        return None
    if kind == ARRAY and depth < 2:
        item, length = reader.u32(), count()
        if item in SCALARS:
            reader.skip(length * SCALARS[item], "a GGUF array")
        else:
            if length * 8 > reader.remaining:
                raise Finding(f"an array claims {length} items, more than the file holds")
            for _ in range(length):
                _value(reader, item, count, depth + 1)
        return None
    raise Finding(f"unknown GGUF value type {kind}")


def _tensor(reader: Reader, count) -> tuple[str, int, int]:
    name = _string(reader, count)
    dims = reader.u32()
    if not 0 < dims <= MAX_DIMS:
        raise Finding(f"tensor {name!r} has {dims} dimensions")
    shape = [count() for _ in range(dims)]
    kind = reader.u32()
    if kind not in GGML_TYPES:
        raise Finding(f"tensor {name!r} has unknown ggml type {kind}")
    offset = reader.u64()
    block, block_bytes = GGML_TYPES[kind]
    elements = math.prod(shape)
    if elements % block:
        raise Finding(f"tensor {name!r}: {elements} elements do not fill {block}-element blocks")
    return name, offset, elements // block * block_bytes
