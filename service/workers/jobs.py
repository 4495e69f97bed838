"""Thin, idempotent jobs: each calls into storage (and later importers and ingestion)."""

from typing import Any

from arq.worker import func

from service.workers import ingestion, model_imports, webhooks


async def reindex(ctx: dict[str, Any]) -> int:
    """Rebuild the Redis index from the manifests in S3 (safe to run again)."""
    return await ctx["files"].reindex()


async def import_model(ctx: dict[str, Any], task_id: str) -> str:
    """Import the model(s) of one upload task (Hub, GitHub or ZIP); the task id is the job id."""
    return await model_imports.run(ctx, task_id)


# One try more than the job itself retries: a worker killed during the last try still gets its
# task marked FAILED by the next run instead of arq dropping the job silently.
import_model_job = func(import_model, name="import_model", max_tries=model_imports.MAX_TRIES + 1)


async def process_file(ctx: dict[str, Any], path: str, uploaded_event: str | None = None) -> str:
    """Parse one stored file and record its summary and status (job id ``process:<path>``);
    ``uploaded_event`` is the file.uploaded event to queue for delivery first."""
    return await ingestion.process_file(ctx, path, uploaded_event)


async def dispatch_event(ctx: dict[str, Any], event_id: str) -> str:
    """Run the handlers of one event and queue its webhooks (job id ``event:<stream id>``)."""
    return await ingestion.dispatch_event(ctx, event_id)


async def deliver_webhook(ctx: dict[str, Any], event_id: str, url: str) -> str:
    """POST one event to one webhook URL, signed; retried with backoff."""
    return await webhooks.deliver(ctx, event_id, url)


async def expire_tus_uploads(ctx: dict[str, Any]) -> int:
    """Abort and forget resumable uploads past their expiry (cron; also at worker start)."""
    return await ctx["tus"].expire()
