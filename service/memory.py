"""Keep a streaming server's memory flat.

glibc raises its mmap threshold each time a large mmapped block is freed, after which
multi-MiB buffers (upload parts) come from the heap and their memory is kept after
they are freed. Pinning the threshold at 1 MiB keeps such buffers mmapped, so freeing
them returns the memory at once; the effect is measured by the 2 GiB upload test.

Buffers under 1 MiB (socket reads, the request chunks uvicorn gathers) come from the
heap, and a 32 MiB trim threshold keeps freed heap for reuse instead of handing it back
and faulting it in again: at 256 KiB / 128 KiB a 1 GiB upload took 530,000 page faults
and 3.2 CPU s in the API, now 262,000 (the parts) and 2.9 s (bench/results.md)."""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
THRESHOLD = 1024 * 1024
M_TRIM_THRESHOLD = -1
TRIM = 32 * 1024 * 1024


def tune_malloc() -> bool:
    """True when applied (glibc only; elsewhere it is a harmless no-op)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM))
    except (OSError, AttributeError):
        return False
