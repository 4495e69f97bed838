"""What the serialisable SHA-256 state costs (``service.domain.sha256state``), measured in-process.

Per GiB: hashing through ``Sha256State`` (OpenSSL's ``SHA256_Update`` over ctypes) against
``hashlib.sha256``, in 256 KiB chunks (the size of the request chunks the API receives).
Per PATCH: what a PATCH does with the state besides hashing: restore it from the 112 bytes
loaded from Redis, export it again for the save (the bytes travel in the same Redis
commands as the offset, so no extra round trip)."""

import hashlib
import os
import time

from bench.measure import MIB, Outcome, median
from service.domain.sha256state import CTX_SIZE, Sha256State

CHUNK = 256 * 1024


def _cpu(action) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def _hash_all(hasher, block: bytes, count: int) -> None:
    for _ in range(count):
        hasher.update(block)


def run(size: int, rounds: int, patch_size: int, out: Outcome) -> None:
    block = os.urandom(CHUNK)
    count = size // CHUNK
    ours, stdlib = [], []
    for n in range(rounds):
        for side in ("ours", "stdlib") if n % 2 == 0 else ("stdlib", "ours"):
            if side == "ours":
                ours.append(_cpu(lambda: _hash_all(Sha256State(), block, count)))
            else:
                stdlib.append(_cpu(lambda: _hash_all(hashlib.sha256(), block, count)))
    per_gib = 1024 * MIB / size
    state = Sha256State()
    state.update(block)
    saved, repeats = state.state, 20_000

    def restore_export() -> None:
        for _ in range(repeats):
            Sha256State(saved).state  # noqa: B018 - the export is the point

    per_patch = median([_cpu(restore_export) for _ in range(rounds)]) / repeats
    patches = 1024 * MIB // patch_size
    extra = (median(ours) - median(stdlib)) * per_gib
    out.note(
        f"SHA-256 CPU s per {size // MIB} MiB, Sha256State {[round(v, 3) for v in ours]}, "
        f"hashlib {[round(v, 3) for v in stdlib]}"
    )
    out.add(
        "tus: SHA-256 state, hashing cost per GiB",
        f"{median(ours) * per_gib:.2f} CPU s vs hashlib {median(stdlib) * per_gib:.2f} ({extra:+.2f} s)",
    )
    out.add(
        "tus: SHA-256 state, per PATCH (restore + export)",
        f"{per_patch * 1e6:.1f} µs, {CTX_SIZE} bytes in Redis; {patches} PATCHes/GiB: "
        f"{per_patch * patches * 1e3:.2f} ms per GiB",
    )
