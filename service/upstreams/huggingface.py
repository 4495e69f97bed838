"""Hugging Face Hub: huggingface_hub resolves the revision and lists files; bytes stream by httpx.

huggingface_hub is synchronous, so its calls run in a thread and never block the event
loop. Downloads do not go through its disk cache: each file streams from the ``resolve``
URL straight into S3, so memory stays at one S3 part and local disk at zero."""

import asyncio
from collections.abc import AsyncIterator
from functools import cached_property

import httpx

from service.domain.models import HF_REQUIREMENTS, missing_requirements
from service.errors import DepotError, Forbidden, InvalidInput, NotFound
from service.settings import Settings
from service.upstreams.base import CHUNK, SourceFile, Transient, check_status


def _translate(exc: Exception, what: str) -> Exception:
    """huggingface_hub's errors → ours: missing is permanent, 5xx and network are transient."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return Forbidden(f"{what}: the repository is gated; configure DEPOT_HF_TOKEN with access")
    if isinstance(exc, RevisionNotFoundError):
        return NotFound(f"{what}: revision not found on the Hub")
    if isinstance(exc, RepositoryNotFoundError):
        return NotFound(f"{what}: model not found on the Hub")
    if isinstance(exc, EntryNotFoundError):
        return NotFound(f"{what}: file not found on the Hub")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status in (0, 408, 429):
            return Transient(f"{what}: the Hub answered {status}")
        return DepotError(f"{what}: the Hub answered {status}")
    if type(exc).__module__.split(".")[0].startswith("httpx") or isinstance(exc, OSError | TimeoutError):
        return Transient(f"{what}: the Hub is unreachable ({type(exc).__name__})")
    return exc


class HuggingFace:
    """One client per process; ``endpoint`` and ``token`` come from settings, never from HF_* env.

    huggingface_hub is imported on first use: it is about a fifth of an idle API's memory, and
    a process that never imports from the Hub (most API replicas, most of the time) never pays it."""

    repo_type: str | None = None  # the Hub's default: models

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.endpoint = settings.hf_endpoint.rstrip("/")
        self.token: str | bool = settings.hf_token.get_secret_value() if settings.hf_token else False
        self.http = http

    @cached_property
    def api(self):
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token, library_name="depot")

    async def _call(self, what: str, fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise _translate(exc, what) from exc

    async def resolve(self, repo: str, revision: str) -> str:
        """The commit sha a revision points at; NotFound when the model or revision is missing."""
        info = await self._call(f"model {repo}@{revision}", self.api.model_info, repo, revision=revision, timeout=30)
        if not info.sha:
            raise Transient(f"model {repo}@{revision}: the Hub gave no commit")
        return info.sha

    async def list_files(self, repo: str, commit: str) -> list[SourceFile]:
        """Every file of the commit, checked for config plus weights before anything is fetched."""
        entries = await self._call(
            f"list {repo}@{commit}",
            lambda: [e for e in self.api.list_repo_tree(repo, revision=commit, recursive=True)
                     if hasattr(e, "size")],
        )
        missing = missing_requirements([e.path for e in entries], HF_REQUIREMENTS)
        if missing:
            raise InvalidInput(f"{repo} is not a model we can import: no {', no '.join(missing)}")
        return [
            SourceFile(path=e.path, size=e.size, sha256=e.lfs.sha256 if e.lfs else None,
                       chunks=self._opener(repo, commit, e.path))
            for e in entries
        ]

    def _opener(self, repo: str, commit: str, path: str):
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        url = hf_hub_url(repo, path, revision=commit, repo_type=self.repo_type, endpoint=self.endpoint)
        headers = build_hf_headers(token=self.token, library_name="depot")

        async def chunks() -> AsyncIterator[bytes]:
            async with self.http.stream("GET", url, headers=headers) as response:
                check_status(response, f"{repo}/{path}")
                served = response.headers.get("x-repo-commit")
                if served and served != commit:
                    raise Transient(f"{repo}/{path}: the Hub served commit {served}, not {commit}")
                async for chunk in response.aiter_bytes(CHUNK):
                    yield chunk

        return chunks
