"""Thin, idempotent jobs: each calls into storage (and later importers and ingestion)."""

from typing import Any


async def reindex(ctx: dict[str, Any]) -> int:
    """Rebuild the Redis index from the manifests in S3 (safe to run again)."""
    return await ctx["files"].reindex()
