"""Ingestion jobs: parse a stored file (status pending → processing → done | failed) and
deliver events to handlers and webhooks.

``process_file`` is idempotent: a file already done or failed is left alone, a rerun of
an interrupted one starts over, and each status change is written manifest first (the
truth), then tag, then index. Transient storage faults are retried with backoff; a file
that does not parse ends ``failed`` with the parser's message."""

import logging
from typing import Any

import httpx
from arq import Retry

from service.domain.events import FileFailed, FileProcessed, FileProcessing, ModelFailed, ModelImported
from service.domain.records import FileRecord, Status, format_time, utc_now
from service.errors import DependencyDown, DepotError, NotFound
from service.storage.events import Emitter, EventLog
from service.storage.files import FileStore
from service.storage.queue import JobQueue
from service.storage.training import TrainingCounter
from service.workers import handlers, webhooks

log = logging.getLogger("depot.ingestion")
MAX_TRIES = 3
RETRY_DELAY = 2.0  # seconds, doubled per try, for storage faults while parsing


async def open_clients(ctx: dict[str, Any]) -> None:
    """Worker start-up: the event log, emitter, handler registry and the webhook HTTP client."""
    files: FileStore = ctx["files"]
    settings = ctx["settings"]
    events = EventLog(files.index.client, settings.redis_prefix, settings.events_max_len, settings.events_source())
    emitter = Emitter(events, JobQueue(files.index.client))
    counter = TrainingCounter(files.index.client, settings.redis_prefix, events)
    http = httpx.AsyncClient(follow_redirects=False)
    ctx["stack"].push_async_callback(http.aclose)
    ctx.update(events=events, emitter=emitter, webhook_http=http, webhook_keys=settings.webhook_keys(),
               handlers=handlers.build_registry(counter, emitter, settings.training_thresholds))
    log.info("event handlers: %s", ", ".join(handlers.describe(ctx["handlers"])))


async def process_file(ctx: dict[str, Any], path: str, uploaded_event: str | None = None) -> str:
    from service.workers.parsers import ParseError, summarize  # parsers load only in workers

    if uploaded_event:
        await ctx["emitter"].deliver(uploaded_event)  # a deterministic job id: queued once, even on reruns
    files: FileStore = ctx["files"]
    try:
        record = await files.record(path)
    except NotFound:
        return "missing"
    if record.status in (Status.done, Status.failed):
        return record.status.value
    job_try = int(ctx.get("job_try", 1))
    record.status, record.error = Status.processing, None
    if not await _save(files, record):
        return "deleted"
    await ctx["emitter"].emit(FileProcessing.of(record))  # live status for the UI and subscribers
    bucket, key = files.location(record)
    try:
        summary = await summarize(files.objects, bucket, key, record.filename, record.size, ctx["settings"])
        record.status, record.summary = Status.done, summary
    except ParseError as exc:
        record.status, record.error = Status.failed, exc.message
    except TimeoutError:
        record.status, record.error = Status.failed, f"parse took longer than {ctx['settings'].process_timeout}s"
    except DependencyDown as exc:
        if job_try < MAX_TRIES:
            record.status = Status.pending
            await _save(files, record, quiet=True)
            raise Retry(defer=RETRY_DELAY * 2 ** (job_try - 1)) from exc
        record.status, record.error = Status.failed, f"gave up after {job_try} tries: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - an unexpected parser fault fails the file, visibly
        log.exception("parsing %s failed unexpectedly", path)
        record.status, record.error = Status.failed, f"internal parser error ({type(exc).__name__})"
    record.processed_at = format_time(utc_now())
    if not await _save(files, record):
        return "deleted"
    event = FileProcessed.of(record, summary=record.summary) if record.status is Status.done else \
        FileFailed.of(record, error=record.error)
    await ctx["emitter"].emit(event)
    return record.status.value


async def _save(files: FileStore, record: FileRecord, quiet: bool = False) -> bool:
    """Write a status change; False when the file was deleted meanwhile."""
    try:
        await files.save_status(record)
    except NotFound:
        log.info("%s was deleted while processing", record.path)
        return False
    except DepotError:
        if not quiet:
            raise
    return True


async def dispatch_event(ctx: dict[str, Any], event_id: str) -> str:
    """Run the handlers of one event, then queue its webhooks."""
    event = await ctx["events"].get_typed(event_id)
    if event is None:
        return "gone"
    failed = await handlers.run_handlers(ctx["handlers"], event)
    sent = await webhooks.queue(ctx, event_id)
    return f"handlers failed: {', '.join(failed)}" if failed else f"delivered; {sent} webhook(s) queued"


async def model_imported(ctx: dict[str, Any], task: Any) -> None:
    """Hook for the model import job's success path; never fails the import."""
    try:
        await ctx["emitter"].emit(ModelImported(
            task_id=task.id, source=task.source.value, model_tag=task.model_tag,
            model_ids=list(task.model_ids), resolved_commit=task.resolved_commit,
        ))
    except Exception:  # noqa: BLE001 - the import succeeded; a lost event is only logged
        log.exception("could not emit model.imported for %s", task.id)


async def model_failed(ctx: dict[str, Any], task: Any) -> None:
    """Hook for the model import job's permanent failure; never changes the outcome."""
    try:
        await ctx["emitter"].emit(ModelFailed(task_id=task.id, source=task.source.value, model_tag=task.model_tag,
                                              error=task.error_msg or "failed"))
    except Exception:  # noqa: BLE001 - the task is recorded FAILED; a lost event is only logged
        log.exception("could not emit model.failed for %s", task.id)
