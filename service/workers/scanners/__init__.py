"""Format-aware checks of model files, chosen by name; each reads a seekable file in bounded memory.

``scan_file`` never raises for what it finds: a ``Finding`` becomes an ``unsafe`` report.
Files that are not weights (config, tokenizer, README) are ``not_scanned``: nothing in
them runs when a model is loaded. A ``.bin`` is a pickle unless it is a safetensors or
GGUF file by its first bytes (some exports name those ``.bin``)."""

import io
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, BinaryIO

from service.domain.scans import MAX_FINDINGS, FileScan, Verdict
from service.workers.scanners import gguf, onnx, pickles, safetensors
from service.workers.scanners._binary import Finding

SCANNER = "depot-scan"
VERSION = version("depot")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")
SCANNERS: dict[str, Callable[[BinaryIO, int], dict[str, Any]]] = {
    "safetensors": safetensors.scan,
    "gguf": gguf.scan,
    "onnx": onnx.scan,
    "pickle": pickles.scan,
}
BY_SUFFIX = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    **dict.fromkeys(PICKLE_SUFFIXES, "pickle"),
}


def format_of(path: str) -> str | None:
    """The format a file is scanned as, or None for files that hold no weights."""
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return BY_SUFFIX.get(suffix)


def scan_file(path: str, f: BinaryIO, size: int) -> FileScan:
    """One file's report; ``f`` is seekable (ranged reads of the stored object)."""
    kind = format_of(path)
    if kind is None:
        return FileScan(path=path, format="other", verdict=Verdict.NOT_SCANNED, scanner=SCANNER, version=VERSION)
    if kind == "pickle":
        kind = _sniff(f) or kind
    reader = io.BufferedReader(f, 64 * 1024) if isinstance(f, io.RawIOBase) else f
    try:
        SCANNERS[kind](reader, size)
    except Finding as finding:
        return _report(path, kind, [str(finding)])
    except (RecursionError, MemoryError, ValueError, OSError, EOFError) as exc:
        return _report(path, kind, [f"unreadable ({type(exc).__name__}: {str(exc)[:200]})"])
    return FileScan(path=path, format=kind, verdict=Verdict.SAFE, scanner=SCANNER, version=VERSION)


def _report(path: str, kind: str, findings: list[str]) -> FileScan:
    return FileScan(
        path=path,
        format=kind,
        verdict=Verdict.UNSAFE,
        findings=findings[:MAX_FINDINGS],
        scanner=SCANNER,
        version=VERSION,
    )


def _sniff(f: BinaryIO) -> str | None:
    """GGUF by its magic; safetensors by a plausible header length followed by ``{``; else None."""
    f.seek(0)
    head = f.read(9)
    f.seek(0)
    if head[:4] == b"GGUF":
        return "gguf"
    if (
        len(head) == 9
        and head[:1] != b"\x80"
        and head[8:9] == b"{"
        and int.from_bytes(head[:8], "little") <= safetensors.MAX_HEADER
    ):
        return "safetensors"
    return None
