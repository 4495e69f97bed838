"""GitHub: the REST API resolves branch, tag or sha to a commit; the tarball streams in.

No git clone: ``GET /repos/{owner}/{repo}/tarball/{sha}`` (a redirect to the archive host,
followed) is decompressed and split into entries as it arrives. The archive's single
top-level folder (``owner-repo-sha``) is dropped from paths.

Archives hold Git LFS files as pointers. A pointer is never stored as if it were the
weights: its object is fetched through the LFS batch API (``{server}/{owner}/{repo}.git/
info/lfs/objects/batch``, the server being the API's host without ``api.``) and checked
against the pointer's sha256 oid and size as it streams into S3."""

import base64
import re
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import httpx

from service.domain.models import check_member_path
from service.errors import InvalidInput, NotFound
from service.settings import Settings
from service.upstreams.base import CHUNK, SourceFile, Transient, check_status
from service.upstreams.tarstream import tar_entries

LFS_POINTER_MAX = 1024  # git-lfs writes pointers of about 130 bytes; it never reads one past 1 KiB
LFS_VERSION = b"version https://git-lfs.github.com/spec/v1"
_LFS_FIELDS = re.compile(rb"oid sha256:(?P<oid>[0-9a-f]{64})\n(?:.*\n)*?size (?P<size>[0-9]{1,20})\n")
LFS_MEDIA = "application/vnd.git-lfs+json"


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """(sha256 oid, size) of a Git LFS pointer file, or None for ordinary content."""
    if not data.startswith(LFS_VERSION + b"\n") or len(data) > LFS_POINTER_MAX:
        return None
    found = _LFS_FIELDS.search(data)
    return (found["oid"].decode(), int(found["size"])) if found else None


def lfs_server(api_url: str) -> str:
    """``https://api.github.com`` → ``https://github.com``; Enterprise ``https://h/api/v3`` → ``https://h``."""
    parts = urlsplit(api_url.rstrip("/"))
    return f"{parts.scheme}://{parts.netloc.removeprefix('api.')}{parts.path.removesuffix('/api/v3')}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


class GitHub:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.base = settings.github_api_url.rstrip("/")
        self.lfs = lfs_server(settings.github_api_url)
        self.http = http
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                        "User-Agent": "depot"}
        self.lfs_headers = {"Accept": LFS_MEDIA, "Content-Type": LFS_MEDIA, "User-Agent": "depot"}
        if settings.github_token:
            token = settings.github_token.get_secret_value()
            self.headers["Authorization"] = f"Bearer {token}"
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            self.lfs_headers["Authorization"] = f"Basic {basic}"  # git's credentials for the LFS server

    async def _get_json(self, path: str, what: str) -> dict:
        try:
            response = await self.http.get(self.base + path, headers=self.headers)
        except httpx.TransportError as exc:
            raise Transient(f"{what}: GitHub is unreachable ({type(exc).__name__})") from exc
        check_status(response, what)
        return response.json()

    async def resolve(self, owner: str, repo: str, revision: str) -> str:
        """The commit sha of a branch, tag or (abbreviated) sha; NotFound names what is missing."""
        await self._get_json(f"/repos/{owner}/{repo}", f"repository {owner}/{repo}")
        try:
            commit = await self._get_json(f"/repos/{owner}/{repo}/commits/{quote(revision, safe='')}",
                                          f"revision {revision} of {owner}/{repo}")
        except NotFound:
            raise NotFound(f"revision {revision} not found in {owner}/{repo}") from None
        sha = commit.get("sha")
        if not isinstance(sha, str):
            raise Transient(f"{owner}/{repo}@{revision}: GitHub gave no commit sha")
        return sha

    async def files(self, owner: str, repo: str, commit: str) -> AsyncIterator[SourceFile]:
        """Regular files of the archive in archive order; links and folders are skipped."""
        url = f"{self.base}/repos/{owner}/{repo}/tarball/{commit}"
        try:
            async with self.http.stream("GET", url, headers=self.headers) as response:
                check_status(response, f"archive of {owner}/{repo}@{commit[:12]}")
                async for entry, data in tar_entries(response.aiter_bytes()):
                    top, _, path = entry.path.partition("/")
                    if not entry.is_file or not path or entry.path.startswith("pax_global_header"):
                        continue
                    try:
                        check_member_path(path)
                    except InvalidInput:
                        raise InvalidInput(f"the archive holds an unsafe path: {path!r}") from None

                    if entry.size <= LFS_POINTER_MAX:  # small: read it whole to tell a pointer from content
                        head = b"".join([chunk async for chunk in data])
                        pointer = parse_lfs_pointer(head)
                        if pointer is not None:
                            oid, size = pointer
                            yield SourceFile(path=path, size=size, sha256=oid,
                                             chunks=lambda p=path, o=oid, s=size: self._lfs_object(owner, repo, p, o, s))
                        else:
                            yield SourceFile(path=path, size=len(head), sha256=None, chunks=lambda h=head: _once(h))
                        continue

                    def chunks(stream=data) -> AsyncIterator[bytes]:
                        return stream

                    yield SourceFile(path=path, size=entry.size, sha256=None, chunks=chunks)
        except httpx.TransportError as exc:
            raise Transient(f"archive of {owner}/{repo}: download broke off ({type(exc).__name__})") from exc

    async def _lfs_object(self, owner: str, repo: str, path: str, oid: str, size: int) -> AsyncIterator[bytes]:
        """The bytes of one LFS object: a batch request for its download action, then the download."""
        what = f"{path}: Git LFS object {oid[:12]}"
        body = {"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": size}],
                "hash_algo": "sha256"}
        try:
            answer = await self.http.post(f"{self.lfs}/{owner}/{repo}.git/info/lfs/objects/batch",
                                          json=body, headers=self.lfs_headers)
        except httpx.TransportError as exc:
            raise Transient(f"{what}: the LFS server is unreachable ({type(exc).__name__})") from exc
        if answer.status_code == 404:
            raise InvalidInput(f"{what}: the repository has no Git LFS storage we can read")
        check_status(answer, what)
        objects = answer.json().get("objects") or [{}]
        error = objects[0].get("error")
        if error:
            raise InvalidInput(f"{what} is not available: {error.get('message', error.get('code'))}")
        action = (objects[0].get("actions") or {}).get("download")
        if not action or not isinstance(action.get("href"), str):
            raise InvalidInput(f"{what}: the LFS server gave no download action")
        try:
            async with self.http.stream("GET", action["href"], headers=action.get("header") or {}) as response:
                check_status(response, what)
                async for chunk in response.aiter_bytes(CHUNK):
                    yield chunk
        except httpx.TransportError as exc:
            raise Transient(f"{what}: download broke off ({type(exc).__name__})") from exc
