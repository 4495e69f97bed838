"""RFC 9530 ``Repr-Digest``: a client declares the SHA-256 of the file it sends, and every
download names the stored file's, so integrity is checked end to end (HTTP, not Depot,
vocabulary: curl, browsers and proxies can carry it)."""

import base64
import binascii

from service.errors import InvalidInput


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("Repr-Digest is not valid base64") from None


def parse_repr_digest(raw: str | None) -> str | None:
    """RFC 9530 ``Repr-Digest``: the SHA-256 (hex) the client declares for the whole file.

    A dictionary of ``algorithm=:base64:``; other algorithms are ignored, but one of them
    must be sha-256 (the only one we compute)."""
    if raw is None:
        return None
    found = None
    for member in raw.split(","):
        name, sep, value = member.strip().partition("=")
        value = value.strip()
        if not sep or not (len(value) >= 2 and value[0] == value[-1] == ":"):
            raise InvalidInput("Repr-Digest must look like sha-256=:<base64>:")
        if name.strip().lower() == "sha-256":
            digest = _b64(value[1:-1])
            if len(digest) != 32:
                raise InvalidInput("Repr-Digest: sha-256 is 32 bytes")
            found = digest.hex()
    if found is None:
        raise InvalidInput("Repr-Digest: no sha-256 member (the only algorithm supported)")
    return found


def repr_digest(sha256_hex: str) -> str:
    """The ``Repr-Digest`` value of a stored file."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"
