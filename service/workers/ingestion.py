"""Ingestion jobs: parse a stored file (status pending → processing → done | failed) and
deliver events to handlers and webhooks.

``process_file`` is idempotent: a file already done or failed is left alone, a rerun of
an interrupted one starts over, and each status change is written manifest first (the
truth), then tag, then index. Transient storage faults are retried with backoff; a file
that does not parse ends ``failed`` with the parser's message, and so does any other
exception of the parser (MemoryError, RecursionError, a library bug). A file whose job
keeps dying with its worker (killed mid-parse) is failed by the job's last try instead of
being redelivered forever (``workers.settings`` allows the job one try more for that)."""

import logging
from typing import Any

from arq import Retry

from service.domain.events import FileFailed, FileProcessed, FileProcessing, ModelFailed, ModelImported
from service.domain.records import FileRecord, Status, format_time, utc_now
from service.errors import DependencyDown, DepotError, NotFound
from service.storage.files import FileStore
from service.wiring import Clients
from service.workers import handlers, webhooks

log = logging.getLogger("depot.ingestion")
MAX_TRIES = 3
RETRY_DELAY = 2.0  # seconds, doubled per try, for storage faults while parsing


def register_handlers(clients: Clients) -> None:
    """Worker start-up: the event handler registry (built-ins plus entry points)."""
    clients.handlers = handlers.build_registry(clients.training, clients.emitter,
                                               clients.settings.training_thresholds)
    log.info("event handlers: %s", ", ".join(handlers.describe(clients.handlers)))


async def process_file(ctx: dict[str, Any], path: str, uploaded_event: str | None = None) -> str:
    from service.workers.parsers import ParseError, summarize  # parsers load only in workers

    clients: Clients = ctx["clients"]
    if uploaded_event:
        await clients.emitter.deliver(uploaded_event)  # a deterministic job id: queued once, even on reruns
    files = clients.files
    try:
        record = await files.record(path)
    except NotFound:
        return "missing"
    job_try = int(ctx.get("job_try", 1))
    if record.status in (Status.done, Status.failed):
        if job_try > 1:  # an earlier try recorded the outcome in the manifest, then died (SIGKILL, OOM)
            # before its index write or its event: finish both, or the index shows it processing forever
            return await _finish(ctx, record, record.status, record.error, stamp=False)
        return record.status.value
    if job_try > MAX_TRIES:  # every earlier try died with its worker: never parse this file again
        log.error("giving up on %s: the worker stopped during %d tries", path, job_try - 1)
        return await _finish(ctx, record, Status.failed,
                             f"the worker stopped while parsing this file, {job_try - 1} times; not retried")
    record.status, record.error = Status.processing, None
    if not await _save(files, record):
        return "deleted"
    await clients.emitter.emit(FileProcessing.of(record))  # live status for the UI and subscribers
    bucket, key = files.location(record)
    try:
        summary = await summarize(files.reader, bucket, key, record.filename, record.size, clients.settings)
        record.status, record.summary = Status.done, summary
    except ParseError as exc:
        record.status, record.error = Status.failed, exc.message
    except TimeoutError:
        record.status, record.error = Status.failed, f"parse took longer than {clients.settings.process_timeout}s"
    except DependencyDown as exc:
        if job_try < MAX_TRIES:
            record.status = Status.pending
            await _save(files, record, quiet=True)
            raise Retry(defer=RETRY_DELAY * 2 ** (job_try - 1)) from exc
        record.status, record.error = Status.failed, f"gave up after {job_try} tries: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - an unexpected parser fault (MemoryError included) fails the file
        log.exception("parsing %s failed unexpectedly", path)
        record.status, record.error = Status.failed, f"internal parser error ({type(exc).__name__})"
    return await _finish(ctx, record, record.status, record.error)


async def _finish(ctx: dict[str, Any], record: FileRecord, status: Status, error: str | None, stamp: bool = True) -> str:
    """Record the final status and emit its event (``stamp``: the outcome is new, so is ``processed_at``)."""
    record.status, record.error = status, error
    if stamp or not record.processed_at:
        record.processed_at = format_time(utc_now())
    clients: Clients = ctx["clients"]
    if not await _save(clients.files, record) or await clients.files.deleted(record.path):
        return "deleted"  # no file.processed for a file deleted meanwhile
    event = FileProcessed.of(record, summary=record.summary) if record.status is Status.done else \
        FileFailed.of(record, error=record.error)
    await clients.emitter.emit(event)
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
    clients: Clients = ctx["clients"]
    event = await clients.events.get_typed(event_id)
    if event is None:
        return "gone"
    failed = await handlers.run_handlers(clients.handlers, event)
    sent = await webhooks.queue(ctx, event_id)
    return f"handlers failed: {', '.join(failed)}" if failed else f"delivered; {sent} webhook(s) queued"


async def model_imported(ctx: dict[str, Any], task: Any) -> None:
    """Hook for the model import job's success path; never fails the import."""
    try:
        await ctx["clients"].emitter.emit(ModelImported(
            task_id=task.id, source=task.source.value, model_tag=task.model_tag,
            model_ids=list(task.model_ids), resolved_commit=task.resolved_commit,
        ))
    except Exception:  # noqa: BLE001 - the import succeeded; a lost event is only logged
        log.exception("could not emit model.imported for %s", task.id)


async def model_failed(ctx: dict[str, Any], task: Any) -> None:
    """Hook for the model import job's permanent failure; never changes the outcome."""
    try:
        await ctx["clients"].emitter.emit(ModelFailed(task_id=task.id, source=task.source.value, model_tag=task.model_tag,
                                              error=task.error_msg or "failed"))
    except Exception:  # noqa: BLE001 - the task is recorded FAILED; a lost event is only logged
        log.exception("could not emit model.failed for %s", task.id)
