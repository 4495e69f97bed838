"""``DepotClient``: one httpx client per command run, every call of the HTTP API, errors made readable."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from service import __version__
from service.client.config import ClientConfig
from service.client.errors import ClientError
from service.client.integrity import repr_digest
from service.client.multipart import FilePart, RateLimiter, encode
from service.client.resume import key_fingerprint

DATA = "/api/v1/data"
PAGE = 1000


def file_url(path: str) -> str:
    """``/api/v1/data/files/<purpose>/<category>/<name>``, each segment escaped."""
    return f"{DATA}/files/{quote(path.strip('/'), safe='/')}"


def error_message(response: httpx.Response) -> str:
    """The server's ``error`` field when there is one, else the status text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error") or body.get("detail"), str):
        return body.get("error") or body["detail"]
    return response.reason_phrase or "request failed"


def check(response: httpx.Response) -> httpx.Response:
    """Raise a one-line ``ClientError`` for 4xx/5xx, keeping the raw body for ``--verbose``."""
    if response.status_code < 400:
        return response
    if not response.is_closed:
        response.read()
    hint = {401: " (set --api-key or DEPOT_API_KEY)", 403: ""}.get(response.status_code, "")
    raise ClientError(
        f"{response.status_code}: {error_message(response)}{hint}",
        detail=f"{response.request.method} {response.request.url}\n{response.text[:2000]}",
        status=response.status_code,
    )


class DepotClient:
    """Thread-safe (httpx.Client is): concurrent uploads share one connection pool."""

    def __init__(self, config: ClientConfig, timeout: float = 60.0) -> None:
        headers = {"User-Agent": f"depot-cli/{__version__}"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.base_url = config.url
        self.key_fingerprint = key_fingerprint(config.api_key)  # resume records are per server and key
        self.http = httpx.Client(
            base_url=config.url, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    def __enter__(self) -> "DepotClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        with self.transport_errors():
            return check(self.http.request(method, url, **kwargs))

    @contextmanager
    def transport_errors(self) -> Iterator[None]:
        """Network failures as one line naming the server."""
        try:
            yield
        except httpx.ConnectError as exc:
            raise ClientError(f"cannot connect to {self.base_url} (is the server running?)", detail=repr(exc)) from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"{self.base_url} did not answer in time", detail=repr(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError) as exc:
            raise ClientError(f"connection to {self.base_url} broke: {exc}", detail=repr(exc)) from exc

    # -- data files ---------------------------------------------------------------------------------
    def list_files(self, purpose: str | None = None, category: str | None = None, status: str | None = None,
                   limit: int = 100, offset: int = 0) -> dict[str, Any]:
        params = {k: v for k, v in {"purpose": purpose, "category": category, "status": status}.items() if v}
        return self.request("GET", f"{DATA}/files", params={**params, "limit": limit, "offset": offset}).json()

    def iter_files(self, purpose: str | None = None, category: str | None = None) -> Iterator[dict[str, Any]]:
        """Every listed file, page by page (stops when a page comes back short)."""
        offset = 0
        while True:
            page = self.list_files(purpose, category, limit=PAGE, offset=offset)
            yield from page["files"]
            offset += len(page["files"])
            if len(page["files"]) < PAGE or offset >= page["total"]:
                return

    def upload(
        self, path: Path, size: int, fields: dict[str, str], on_bytes: Callable[[int], None] | None = None,
        cancelled: threading.Event | None = None, limiter: RateLimiter | None = None, sha256: str | None = None,
    ) -> dict[str, Any]:
        """Stream one file; returns the server's ``file`` record. With ``sha256`` the server stores
        the file only if its content has that hash (``Repr-Digest``, else 400)."""
        headers, _, body = encode(fields, FilePart(path, path.name, size), on_bytes, cancelled, limiter)
        if sha256:
            headers["Repr-Digest"] = repr_digest(sha256)
        # No read timeout: the server answers only after the last part reaches S3.
        response = self.request("POST", f"{DATA}/upload", content=body, headers=headers,
                                timeout=httpx.Timeout(None, connect=10.0))
        return response.json()["file"]

    def metadata(self, path: str) -> dict[str, Any]:
        return self.request("GET", file_url(path), params={"metadata": "true"}).json()["metadata"]

    @contextmanager
    def download(self, path: str) -> Iterator[httpx.Response]:
        """A streamed download response; iterate ``iter_bytes()`` inside the ``with``."""
        with self.transport_errors(), self.http.stream("GET", file_url(path),
                                                       timeout=httpx.Timeout(60.0, connect=10.0)) as response:
            check(response)
            yield response

    def delete(self, path: str) -> str:
        return self.request("DELETE", file_url(path)).json().get("message", "deleted")

    def stats(self) -> dict[str, Any]:
        return self.request("GET", f"{DATA}/stats").json()["stats"]

    # -- models -------------------------------------------------------------------------------------
    def import_huggingface(self, model_tag: str, revision: str) -> str:
        """Start an import; returns the task URL from ``Location``."""
        response = self.request("POST", "/v1/upload/huggingface", json={"model_tag": model_tag, "revision": revision})
        return self.location(response)

    def import_github(self, owner: str, repo_name: str, revision: str) -> str:
        body = {"owner": owner, "repo_name": repo_name, "revision": revision}
        return self.location(self.request("POST", "/v1/upload/github", json=body))

    def import_zip(self, path: Path, size: int, model_name: str | None,
                   on_bytes: Callable[[int], None] | None = None) -> str:
        headers, _, body = encode({}, FilePart(path, path.name, size, "application/zip"), on_bytes)
        params = {"model_name": model_name} if model_name else None
        response = self.request("POST", "/v1/upload/local", content=body, headers=headers, params=params,
                                timeout=httpx.Timeout(None, connect=10.0))
        return self.location(response)

    def location(self, response: httpx.Response) -> str:
        where = response.headers.get("location")
        if not where:
            raise ClientError(f"the server accepted the import but sent no Location (status {response.status_code})")
        return urljoin(self.base_url + "/", where)

    def task(self, ref: str) -> dict[str, Any]:
        """A task by id, path or full URL."""
        url = ref if ref.startswith(("http://", "https://", "/")) else f"/v1/upload/tasks/{quote(ref, safe='')}"
        return self.request("GET", url).json()

    def tasks(self, limit: int = 50) -> list[dict[str, Any]]:
        body = self.request("GET", "/v1/upload/tasks", params={"limit": limit}).json()
        return body if isinstance(body, list) else body.get("tasks") or body.get("items") or []

    def models(self, source: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        params = {"limit": limit, "offset": offset, **({"source": source} if source else {})}
        return self.request("GET", "/v1/models", params=params).json()

    def model(self, model_id: str) -> dict[str, Any]:
        return self.request("GET", f"/v1/models/{quote(model_id, safe='/@')}").json()
