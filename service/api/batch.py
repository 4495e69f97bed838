"""Finishing an upload: committing each file of a batch on its own, and announcing stored files.

A stored file's ``file.uploaded`` event is recorded with its index entry (one script), then
its ingestion is queued; if Redis fails between the two the file stays stored (status
``pending``) and the failure is logged, since the client's bytes are safe and ``depot
reindex`` plus a re-queue can pick it up."""

import structlog
from litestar import Response

from service.api.receiver import FileOutcome
from service.api.schemas import BatchItem, BatchUploadResponse, FileView
from service.domain.records import FileRecord
from service.errors import DepotError
from service.storage.events import Emitter
from service.storage.files import FileStore, PendingUpload

log = structlog.get_logger("depot.api")


async def store(files: FileStore, emitter: Emitter, pending: PendingUpload) -> FileRecord:
    """Commit one file (recorded as ``file.uploaded`` with its index entry) and queue its ingestion."""
    record, event_id = await files.finish_upload(pending, emitter.log)
    try:
        await emitter.process(record.path, event_id)
    except DepotError as exc:
        log.warning("stored file not queued for ingestion", path=record.path, error=exc.message)
    return record


async def finish_batch(files: FileStore, emitter: Emitter, outcomes: list[FileOutcome]) -> Response:
    """Commit every file that arrived intact; 201 when at least one was stored."""
    items: list[BatchItem] = []
    for outcome in outcomes:
        if outcome.error is None and outcome.pending is not None:
            try:
                record = await store(files, emitter, outcome.pending)
            except DepotError as exc:
                await outcome.fail(exc)
            else:
                outcome.pending = None
                items.append(BatchItem(success=True, filename=outcome.filename, status=201,
                                       file=FileView(**record.upload_view())))
                continue
        error = outcome.error or DepotError("file not received")
        items.append(BatchItem(success=False, filename=outcome.filename, status=error.status_code,
                               error=error.message))
    uploaded = sum(item.success for item in items)
    body = BatchUploadResponse(
        success=uploaded == len(items), message=f"{uploaded} of {len(items)} files uploaded",
        uploaded=uploaded, failed=len(items) - uploaded, files=items,
        error=None if uploaded else "no file was uploaded: " + "; ".join(
            f"{i.filename}: {i.error}" for i in items)[:2000],
    )
    statuses = {item.status for item in items}
    status = 201 if uploaded else (statuses.pop() if len(statuses) == 1 else 400)
    return Response(body, status_code=status)
