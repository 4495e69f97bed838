"""Thin, idempotent jobs: each calls into storage, model imports or ingestion.

``ctx["clients"]`` is the worker's ``service.wiring.Clients``; names in ``service.domain.jobs``."""

from typing import Any

from arq.worker import Retry, func

from service.domain.jobs import IMPORT_DATASET, IMPORT_MODEL
from service.errors import DependencyDown
from service.workers import dataset_imports, ingestion, model_imports, webhooks


async def reindex(ctx: dict[str, Any]) -> int:
    """Rebuild the Redis indexes of files and models from the manifests in S3, as ``depot reindex``
    does (safe to run again); returns the files indexed."""
    files = await ctx["clients"].files.reindex()
    await ctx["clients"].models.rebuild()
    return files


async def import_model(ctx: dict[str, Any], task_id: str) -> str:
    """Import the model(s) of one upload task (Hub, GitHub or ZIP); the task id is the job id."""
    return await model_imports.run(ctx, task_id)


# One try more than the job itself retries: a worker killed during the last try still gets its
# task marked FAILED by the next run instead of arq dropping the job silently.
import_model_job = func(import_model, name=IMPORT_MODEL, max_tries=model_imports.MAX_TRIES + 1)


async def import_dataset(ctx: dict[str, Any], task_id: str) -> str:
    """Import the files of one Hub dataset as data uploads; the task id is the job id."""
    return await dataset_imports.run(ctx, task_id)


import_dataset_job = func(import_dataset, name=IMPORT_DATASET, max_tries=model_imports.MAX_TRIES + 1)


async def process_file(ctx: dict[str, Any], path: str, uploaded_event: str | None = None) -> str:
    """Parse one stored file and record its summary and status (job id ``process:<path>``);
    ``uploaded_event`` is the file.uploaded event to queue for delivery first. Registered in
    ``workers.settings`` with one try more than it retries itself (that try only fails a file whose
    parse killed its worker every time)."""
    return await ingestion.process_file(ctx, path, uploaded_event)


async def dispatch_event(ctx: dict[str, Any], event_id: str) -> str:
    """Run the handlers of one event and queue its webhooks (job id ``event:<stream id>``)."""
    return await ingestion.dispatch_event(ctx, event_id)


async def deliver_webhook(ctx: dict[str, Any], event_id: str, url: str) -> str:
    """POST one event to one webhook URL, signed; retried with backoff."""
    return await webhooks.deliver(ctx, event_id, url)


async def verify_direct(ctx: dict[str, Any], upload_id: str) -> str:
    """Hash a completed direct upload and commit it like POST /upload (job id ``direct:<id>``);
    storage unreachable while reading it is retried, and after the last try the upload fails."""
    clients = ctx["clients"]
    try:
        return await clients.direct.verify(upload_id, clients.emitter)
    except DependencyDown as exc:
        if ctx.get("job_try", 1) >= VERIFY_TRIES:
            return await clients.direct.give_up(upload_id, f"storage unavailable while verifying: {exc.message}")
        raise Retry(defer=5 * ctx.get("job_try", 1)) from exc


VERIFY_TRIES = 3
