"""What every importer shares: the file it yields and the two kinds of upstream failure.

A ``Transient`` fault (5xx, timeout, reset) is worth another try; anything else an upstream
says is permanent and fails the task at once with the message shown to the client."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from service.errors import DependencyDown, DepotError, Forbidden, NotFound

CHUNK = 1024 * 1024
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Transient(DepotError):
    """An upstream hiccup: retry later."""

    status_code = 503


@dataclass
class SourceFile:
    """One file of a model: ``chunks()`` opens its bytes (lazily, so a resumed job can skip it)."""

    path: str
    size: int | None
    sha256: str | None
    chunks: Callable[[], AsyncIterator[bytes]]


def check_status(response: httpx.Response, what: str) -> None:
    """Map an upstream answer to our errors: 404 → NotFound, 5xx/429/408 → Transient."""
    status = response.status_code
    if status < 300:
        return
    if status in (404, 410, 422):
        raise NotFound(f"{what} not found upstream")
    if status >= 500 or status in (408, 429):
        raise Transient(f"{what}: upstream answered {status}")
    if status in (401, 403):
        raise Forbidden(f"{what}: upstream refused access ({status}); check the token")
    raise DepotError(f"{what}: upstream answered {status}")


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is worth another try of the job."""
    return isinstance(exc, Transient | DependencyDown | httpx.TransportError | TimeoutError)


def new_http_client() -> httpx.AsyncClient:
    """The one upstream client of a process (API lifespan or worker start-up)."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True,
                             limits=httpx.Limits(max_connections=32, max_keepalive_connections=8))
