"""Keep a streaming server's memory flat.

glibc raises its mmap threshold each time a large mmapped block is freed, after which
multi-MiB buffers (upload parts) come from the heap and their memory is kept after
they are freed. Pinning the threshold keeps such buffers mmapped, so freeing them
returns the memory at once. The effect is measured by the 2 GiB upload test."""

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
THRESHOLD = 256 * 1024


def pin_mmap_threshold() -> bool:
    """True when applied (glibc only; elsewhere it is a harmless no-op)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False
