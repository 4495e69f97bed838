"""Hugging Face Hub datasets: resolve a revision, list its files, stream each one.

The model client (``upstreams.huggingface``) does the same for models; this one
reuses its thread-offloaded calls and error translation and only asks for
``repo_type="dataset"``. Bytes stream from the ``resolve`` URL (never the local cache)."""

from service.errors import NotFound
from service.upstreams.base import SourceFile, Transient
from service.upstreams.huggingface import HuggingFace

REPO_TYPE = "dataset"


class HubDatasets(HuggingFace):
    """Shares the settings, token and pooled HTTP client of the model importer's client."""

    repo_type = REPO_TYPE

    async def _dataset_call(self, what: str, fn, *args, **kwargs):
        try:
            return await self._call(what, fn, *args, **kwargs)
        except NotFound as exc:  # the model client words it for models
            raise NotFound(exc.message.replace("model not found", "dataset not found")) from exc

    async def resolve(self, repo: str, revision: str) -> str:
        """The commit a revision points at; NotFound when the dataset or revision is missing."""
        info = await self._dataset_call(
            f"dataset {repo}@{revision}", self.api.dataset_info, repo, revision=revision, timeout=30
        )
        if not info.sha:
            raise Transient(f"dataset {repo}@{revision}: the Hub gave no commit")
        return info.sha

    async def list_files(
        self, repo: str, commit: str, allow_patterns: list[str] | None = None, ignore_patterns: list[str] | None = None
    ) -> list[SourceFile]:
        """The commit's files that match the patterns (huggingface_hub's own matching), by path."""
        from huggingface_hub.utils import filter_repo_objects

        entries = await self._dataset_call(
            f"list dataset {repo}@{commit}",
            lambda: [
                e
                for e in self.api.list_repo_tree(repo, revision=commit, recursive=True, repo_type=REPO_TYPE)
                if hasattr(e, "size")
            ],
        )
        chosen = filter_repo_objects(
            entries, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns, key=lambda e: e.path
        )
        return [
            SourceFile(
                path=e.path,
                size=e.size,
                sha256=e.lfs.sha256 if e.lfs else None,
                chunks=self._opener(repo, commit, e.path),
            )
            for e in sorted(chosen, key=lambda e: e.path)
        ]
