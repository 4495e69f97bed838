"""The errors everything below the controllers raises; ``api/errors.py`` maps them to HTTP."""


class DepotError(Exception):
    """Base of all expected failures; ``message`` is safe to show to clients."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DepotError):
    """The request is malformed or names something not allowed."""

    status_code = 400


class DigestMismatch(InvalidInput):
    """The content's SHA-256 is not the one the client declared (``Repr-Digest``)."""


class Forbidden(DepotError):
    """A path or name that tries to escape its place (traversal and friends)."""

    status_code = 403


class NotFound(DepotError):
    status_code = 404


class CorruptManifest(DepotError, ValueError):
    """A manifest whose bytes are not JSON: a ValueError too, so the readers that page through every
    manifest (reindex, verify) skip or report it like an invalid record instead of stopping."""


class Conflict(DepotError):
    status_code = 409


class TooLarge(DepotError):
    status_code = 413


class RequestTimeout(DepotError):
    """The client stopped sending its request body (slowloris); the connection is closed."""

    status_code = 408


class DependencyDown(DepotError):
    """S3 or Redis cannot be reached; the client may retry later."""

    status_code = 503


class ChecksumMismatch(DepotError):
    """tus checksum extension: the chunk (or the whole file's Repr-Digest) does not match."""

    status_code = 460


class UnsupportedMediaType(DepotError):
    """A tus PATCH body that is not ``application/offset+octet-stream``."""

    status_code = 415


class Locked(DepotError):
    """Another request is writing this (tus) upload right now."""

    status_code = 423


class VersionMismatch(DepotError):
    """A tus request without ``Tus-Resumable: 1.0.0``."""

    status_code = 412


class RangeNotSatisfiable(DepotError):
    """A ``Range`` header that lies outside the file."""

    status_code = 416

    def __init__(self, size: int) -> None:
        super().__init__(f"requested range not satisfiable (file is {size} bytes)")
        self.size = size
