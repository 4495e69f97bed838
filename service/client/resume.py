"""The local record of unfinished tus uploads, so a re-run after Ctrl+C, kill -9 or a lost
connection resumes from the server's offset instead of starting over.

One small JSON file, ``$XDG_STATE_HOME/depot/uploads.json`` (``~/.local/state/depot``), next to
``tasks.json``. An entry is keyed by a hash of server URL, API key fingerprint, absolute path,
size and mtime: a file that changed, another server or another key never matches an old upload.
Losing the file loses nothing but the chance to resume. Writes are atomic (temp file + rename)
and serialised by a lock file, so parallel jobs and two ``depot upload`` runs cannot lose entries."""

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

LOCK_WAIT = 10.0  # seconds; the lock is held only for a read-modify-write of a small file


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "depot"


def key_fingerprint(api_key: str | None) -> str:
    """Enough of the key's SHA-256 to tell keys apart; the key itself is never written."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "-"


def record_key(server: str, fingerprint: str, path: Path, size: int, mtime_ns: int) -> str:
    identity = json.dumps([server.rstrip("/"), fingerprint, str(path.resolve()), size, mtime_ns])
    return hashlib.sha256(identity.encode()).hexdigest()


@dataclass
class Pending:
    """One unfinished upload: where it lives on the server and the hash declared at creation."""

    upload_url: str
    sha256: str
    size: int
    file: str  # for people reading the file; the key already covers it
    created: float
    expires: float  # from Upload-Expires; past it the server has dropped the upload


class ResumeStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "uploads.json"
        self.lock = FileLock(str(self.path) + ".lock", timeout=LOCK_WAIT)

    def get(self, key: str) -> Pending | None:
        raw = self._read().get(key)
        try:
            return Pending(**raw) if isinstance(raw, dict) else None
        except TypeError:  # written by another version: start over rather than guess
            return None

    def put(self, key: str, entry: Pending) -> None:
        with self._change() as entries:
            entries[key] = asdict(entry)

    def remove(self, key: str) -> None:
        with self._change() as entries:
            entries.pop(key, None)

    def entries(self) -> dict[str, Pending]:
        return {k: p for k in self._read() if (p := self.get(k)) is not None}

    # -------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):  # missing or damaged: nothing to resume
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, drop expired entries, write back atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.lock:
                entries = self._read()
                yield entries
                now = time.time()
                kept = {k: v for k, v in entries.items() if isinstance(v, dict) and v.get("expires", 0) > now}
                temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    json.dump(kept, handle, indent=1)
                os.replace(temp, self.path)
        except (OSError, Timeout):
            pass  # the record is a convenience: an upload never fails because it cannot be written
