"""Periodic clean-up (arq cron): nothing a crash or a lost job leaves behind stays forever.

- ``clean_stale_uploads``: aborts multipart uploads older than ``stale_upload_age`` in every
  Depot bucket (a killed API or worker leaves them open; SeaweedFS has no lifecycle rule for
  them) and removes staged model ZIPs (``_uploads/``) of that age whose task is not running.
- ``requeue_lost``: queues the ingestion of files still ``pending`` after
  ``pending_requeue_after`` whose job is gone (Redis refused it, or it was lost). The job id is
  the upload's, so a job still queued or running is never doubled.
- ``expire_tus_uploads``: aborts the multipart uploads of resumable (tus) uploads past their
  expiry and forgets their state (at worker start, then every 5 minutes).
- ``expire_direct_uploads``: the same for direct (presigned) uploads: parts or an unverified
  object go, finished uploads' records are forgotten.
- ``restore_index``: queues ``reindex`` when S3 holds manifests but Redis no index built from
  them (Redis lost its data, or the index predates the generation layout), so lists and stats
  come back by themselves (at worker start, then every 5 minutes).

Each is a cron job with arq's deterministic id per run, so one replica runs it at a time.
All work through the stores of ``ctx["clients"]`` (``service.wiring``)."""

import logging
from contextlib import aclosing
from datetime import timedelta
from typing import Any

from service.domain.jobs import REINDEX
from service.domain.naming import MANIFEST_SUFFIX
from service.domain.records import utc_now
from service.wiring import Clients

log = logging.getLogger("depot.sweeper")


async def clean_stale_uploads(ctx: dict[str, Any]) -> dict[str, int]:
    clients: Clients = ctx["clients"]
    before = utc_now() - timedelta(seconds=clients.settings.stale_upload_age)
    aborted = await clients.files.abort_uploads_begun_before(before)
    aborted += await clients.models.abort_uploads_begun_before(before)
    staged = await clients.models.discard_stale_uploads(before)
    if aborted or staged:
        log.warning("aborted stale multipart uploads %s; removed staged ZIPs %s", aborted, staged)
    purged = await clients.files.purge_deleted()
    return {"aborted_uploads": len(aborted), "removed_staged": len(staged), "purged_keys": purged}


async def requeue_lost(ctx: dict[str, Any]) -> int:
    clients: Clients = ctx["clients"]
    before = utc_now() - timedelta(seconds=clients.settings.pending_requeue_after)
    requeued = []
    async for path in clients.files.stale_pending(before):
        if await clients.emitter.process(path, None):
            requeued.append(path)
    if requeued:
        log.warning("queued the lost ingestion of %d file(s): %s", len(requeued), requeued[:20])
    return len(requeued)


async def expire_tus_uploads(ctx: dict[str, Any]) -> int:
    """Abort and forget resumable uploads past their expiry."""
    clients: Clients = ctx["clients"]
    return await clients.tus.expire()


async def expire_direct_uploads(ctx: dict[str, Any]) -> int:
    """Abort direct uploads past their expiry and forget finished ones."""
    clients: Clients = ctx["clients"]
    return await clients.direct.expire()


async def restore_index(ctx: dict[str, Any]) -> bool:
    """Queue one rebuild of a lost index (job id ``reindex:restore``); True when it was queued.
    A store with no manifest marks its empty index built instead: a new deployment never
    rebuilds for nothing, and what it stores from then on is indexed as usual."""
    clients: Clients = ctx["clients"]
    files = clients.files
    if await files.index.built() or await files.index.rebuilding():  # one rebuild at a time
        return False
    for bucket in files.buckets():
        async with aclosing(files.objects.iter_keys(bucket, MANIFEST_SUFFIX)) as keys:
            async for _ in keys:
                log.warning("the Redis index is missing while S3 holds manifests: queueing a rebuild")
                return await clients.queue.enqueue(REINDEX, job_id="reindex:restore")
    await files.index.mark_built()
    return False
