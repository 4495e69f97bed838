"""A SHA-256 whose state is plain bytes, so a hash can continue in another process.

tus uploads arrive in many requests, possibly on different API processes, and the
whole-file SHA-256 must be computed without reading the object back. hashlib cannot
export its state; ``rehash`` (the PyPI package for this) refuses OpenSSL 3, and the
pure-Python alternatives hash at a few MB/s. OpenSSL's classic ``SHA256_*`` functions
keep their state in a caller-owned ``SHA256_CTX`` struct (no pointers), so its raw
bytes are a complete, portable-on-this-build state. We call the libcrypto that
``_hashlib`` already loaded (ctypes releases the GIL during the call)."""

import _hashlib
import ctypes
import hashlib

CTX_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16], num, md_len (all 32-bit)

_lib = ctypes.CDLL(_hashlib.__file__)  # dlsym on this handle also searches its libcrypto
_lib.SHA256_Init.argtypes = [ctypes.c_char_p]
_lib.SHA256_Update.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
_lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


class Sha256State:
    """``update``/``hexdigest`` like hashlib, plus ``state`` (bytes) to save and restore."""

    def __init__(self, state: bytes | None = None) -> None:
        if state is None:
            self._ctx = ctypes.create_string_buffer(CTX_SIZE)
            _lib.SHA256_Init(self._ctx)
        else:
            if len(state) != CTX_SIZE:
                raise ValueError("not a SHA-256 state")
            self._ctx = ctypes.create_string_buffer(state, CTX_SIZE)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if len(data):
            _lib.SHA256_Update(self._ctx, bytes(data) if not isinstance(data, bytes) else data, len(data))

    @property
    def state(self) -> bytes:
        return self._ctx.raw

    def digest(self) -> bytes:
        copy = ctypes.create_string_buffer(self._ctx.raw, CTX_SIZE)  # finishing does not end this hash
        out = ctypes.create_string_buffer(32)
        _lib.SHA256_Final(out, copy)
        return out.raw

    def hexdigest(self) -> str:
        return self.digest().hex()


def _self_check() -> None:
    """Fail at import, not at the end of a 10 GiB upload, if this libcrypto disagrees with hashlib."""
    probe = Sha256State()
    probe.update(b"depot")
    resumed = Sha256State(probe.state)
    resumed.update(b"!" * 100)
    if resumed.hexdigest() != hashlib.sha256(b"depot" + b"!" * 100).hexdigest():
        raise RuntimeError("libcrypto's SHA256_CTX does not round-trip")


_self_check()
