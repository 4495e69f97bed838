"""Thin, idempotent jobs: each calls into storage (and later importers and ingestion)."""

from typing import Any

from service.workers import model_imports


async def reindex(ctx: dict[str, Any]) -> int:
    """Rebuild the Redis index from the manifests in S3 (safe to run again)."""
    return await ctx["files"].reindex()


async def import_model(ctx: dict[str, Any], task_id: str) -> str:
    """Import the model(s) of one upload task (Hub, GitHub or ZIP); the task id is the job id."""
    return await model_imports.run(ctx, task_id)
