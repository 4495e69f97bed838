"""safetensors: the header must describe exactly the bytes that follow it.

Layout: an 8-byte little-endian header length N, N bytes of JSON, then the data. Every
tensor's ``data_offsets`` must lie inside the data, in order, without gaps or overlaps,
and span dtype × shape bytes; ``__metadata__`` maps strings to strings. Only the header
is read (at most ``MAX_HEADER`` bytes)."""

import json
import math
from typing import Any, BinaryIO

from service.workers.scanners._binary import Finding, Reader

MAX_HEADER = 100 * 1000 * 1000
# Bits per element of every dtype the safetensors format defines.
DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def scan(f: BinaryIO, size: int) -> dict[str, Any]:
    """Check the header; returns a short summary (tensor count, data bytes), raises ``Finding``."""
    reader = Reader(f, size, "safetensors header")
    if size < 8:
        raise Finding("shorter than the 8-byte header length")
    length = reader.u64()
    if length > MAX_HEADER:
        raise Finding(f"header length {length} exceeds the {MAX_HEADER}-byte cap")
    raw = reader.read(length, "the header length")
    try:
        header = json.loads(raw, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Finding(f"header is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise Finding("header is not a JSON object")
    _check_metadata(header.pop("__metadata__", {}))
    data_size = size - 8 - length
    spans = sorted((_span(name, entry) for name, entry in header.items()), key=lambda s: s[1])
    position = 0
    for name, begin, end in spans:
        if begin != position:
            problem = "overlaps the tensor before it" if begin < position else f"leaves a gap at {position}"
            raise Finding(f"tensor {name!r} {problem} (offsets {begin}..{end})")
        position = end
    if position != data_size:
        raise Finding(f"tensors cover {position} bytes but the data section holds {data_size}")
    return {"tensors": len(spans), "data_bytes": data_size}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A name given twice could hide a second span: refuse, never keep the last."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise Finding("header names a key twice")
    return result


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise Finding("__metadata__ must map strings to strings")


def _span(name: str, entry: Any) -> tuple[str, int, int]:
    if not isinstance(entry, dict):
        raise Finding(f"tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BITS:
        raise Finding(f"tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise Finding(f"tensor {name!r} has an invalid shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_natural(o) for o in offsets)):
        raise Finding(f"tensor {name!r} has invalid data_offsets")
    begin, end = offsets
    if end < begin:
        raise Finding(f"tensor {name!r} ends before it begins ({begin}..{end})")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        raise Finding(f"tensor {name!r}: {dtype} × {shape} is {bits / 8:g} bytes, but its offsets span {end - begin}")
    return name, begin, end


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
