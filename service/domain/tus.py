"""tus 1.0.0 (https://tus.io/protocols/resumable-upload): header parsing (its errors are in
``service.errors``).

Pure code: every header a client sends is checked here, strictly (a length is ASCII
digits only, a metadata value is strict base64, a duplicated header is refused), so the
store below only ever sees well-formed numbers and strings."""

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

from service.errors import InvalidInput

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,creation-defer-length,expiration,termination,checksum"
CHECKSUM_ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1, "md5": hashlib.md5}
OFFSET_TYPE = "application/offset+octet-stream"
MAX_NUMBER = 2**63 - 1  # any length or offset above this is malformed, not merely too large
METADATA_KEYS = frozenset({"filename", "purpose", "category", "description", "metadata"})
IGNORED_KEYS = frozenset({"filetype", "type", "relativePath"})  # sent by Uppy/tus-js-client by default
_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def valid_id(upload_id: str) -> bool:
    return bool(_ID.match(upload_id))


def single(values: Sequence[str], name: str) -> str | None:
    """The one value of a header; a header sent twice is ambiguous (400)."""
    if len(values) > 1:
        raise InvalidInput(f"header {name} given more than once")
    return values[0] if values else None


def parse_number(raw: str | None, name: str) -> int | None:
    """A non-negative integer header: ASCII digits, no sign, no spaces, at most 2**63-1."""
    if raw is None:
        return None
    value = raw.strip()
    if not _DIGITS.match(value) or int(value) > MAX_NUMBER:
        raise InvalidInput(f"{name} must be a non-negative integer, got {raw[:40]!r}")
    return int(value)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid base64") from None


def parse_upload_metadata(raw: str | None) -> dict[str, str]:
    """``Upload-Metadata``: ``key base64,key base64,...``; values UTF-8; keys unique."""
    result: dict[str, str] = {}
    if raw is None or not raw.strip():
        return result
    for pair in raw.split(","):
        key, _, value = pair.strip().partition(" ")
        if not _KEY.match(key):
            raise InvalidInput(f"Upload-Metadata: invalid key {key[:40]!r}")
        if key in result:
            raise InvalidInput(f"Upload-Metadata: key {key!r} given twice")
        try:
            result[key] = _b64(value.strip(), f"Upload-Metadata value of {key!r}").decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"Upload-Metadata value of {key!r} is not UTF-8") from None
    if "filename" not in result and "name" in result:
        result["filename"] = result["name"]  # Uppy names the file 'name'
    result.pop("name", None)
    unknown = set(result) - METADATA_KEYS - IGNORED_KEYS
    if unknown:
        raise InvalidInput(
            f"Upload-Metadata: unknown key {sorted(unknown)[0]!r}; expected: " + ", ".join(sorted(METADATA_KEYS))
        )
    return {k: v for k, v in result.items() if k in METADATA_KEYS}


def parse_checksum(raw: str | None) -> tuple[str, bytes] | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``."""
    if raw is None:
        return None
    algorithm, _, value = raw.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidInput(
            f"Upload-Checksum: unsupported algorithm {algorithm[:20]!r}; one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    digest = _b64(value.strip(), "Upload-Checksum")
    if len(digest) != CHECKSUM_ALGORITHMS[algorithm]().digest_size:
        raise InvalidInput(f"Upload-Checksum: not a {algorithm} digest")
    return algorithm, digest
