"""GitHub: the REST API resolves branch, tag or sha to a commit; the tarball streams in.

No git clone: ``GET /repos/{owner}/{repo}/tarball/{sha}`` (a redirect to the archive host,
followed) is decompressed and split into entries as it arrives. The archive's single
top-level folder (``owner-repo-sha``) is dropped from paths."""

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx

from service.domain.models import check_member_path
from service.errors import InvalidInput, NotFound
from service.settings import Settings
from service.upstreams.base import SourceFile, Transient, check_status
from service.upstreams.tarstream import tar_entries


class GitHub:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.base = settings.github_api_url.rstrip("/")
        self.http = http
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                        "User-Agent": "depot"}
        if settings.github_token:
            self.headers["Authorization"] = f"Bearer {settings.github_token.get_secret_value()}"

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

                    def chunks(stream=data) -> AsyncIterator[bytes]:
                        return stream

                    yield SourceFile(path=path, size=entry.size, sha256=None, chunks=chunks)
        except httpx.TransportError as exc:
            raise Transient(f"archive of {owner}/{repo}: download broke off ({type(exc).__name__})") from exc
