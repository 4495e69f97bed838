"""The client's half of the end-to-end SHA-256: declare it (RFC 9530 ``Repr-Digest``) on every
upload, and compare what the server says it stored or sent with what we hashed ourselves."""

from collections.abc import Mapping

from service.client.errors import ClientError
from service.domain.digest import parse_repr_digest, repr_digest
from service.errors import InvalidInput

__all__ = ["announced_sha256", "repr_digest", "verify"]


def announced_sha256(headers: Mapping[str, str]) -> str | None:
    """The SHA-256 (hex) a download's headers name: ``Repr-Digest``, else ``X-Checksum-SHA256``."""
    raw = headers.get("repr-digest")
    if raw:
        try:
            return parse_repr_digest(raw)
        except InvalidInput as exc:
            raise ClientError(f"the server sent a malformed Repr-Digest: {exc.message}") from None
    return headers.get("x-checksum-sha256") or None


def verify(local: str, remote: str | None, what: str) -> None:
    """A clear error, never a silent success, when the two ends disagree."""
    if not remote:
        raise ClientError(f"{what}: the server did not name the SHA-256 it has, so it cannot be checked")
    if remote.lower() != local.lower():
        raise ClientError(f"{what}: SHA-256 mismatch: the server has {remote}, the local file is {local}")
