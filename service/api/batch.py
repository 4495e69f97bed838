"""Finishing an upload: committing each file of a batch on its own, and announcing stored files.

A stored file is queued for ingestion and recorded as ``file.uploaded``; if Redis fails
at that point the file stays stored (status ``pending``) and the failure is logged, since
the client's bytes are safe and ``depot reindex`` plus a re-queue can pick it up."""

import structlog
from litestar import Response

from service.api.receiver import FileOutcome
from service.api.schemas import BatchItem, BatchUploadResponse, FileView
from service.domain.events import FileUploaded
from service.domain.records import FileRecord
from service.errors import DepotError
from service.storage.events import Emitter
from service.storage.files import FileStore

log = structlog.get_logger("depot.api")


async def announce(emitter: Emitter, record: FileRecord) -> None:
    try:
        await emitter.uploaded(record.path, FileUploaded.of(record, description=record.description,
                                                            duplicate_of=record.duplicate_of))
    except DepotError as exc:
        log.warning("stored file not queued for ingestion", path=record.path, error=exc.message)


async def finish_batch(files: FileStore, emitter: Emitter, outcomes: list[FileOutcome]) -> Response:
    """Commit every file that arrived intact; 201 when at least one was stored."""
    items: list[BatchItem] = []
    for outcome in outcomes:
        if outcome.error is None and outcome.pending is not None:
            try:
                record = await files.finish_upload(outcome.pending)
            except DepotError as exc:
                await outcome.fail(exc)
            else:
                outcome.pending = None
                await announce(emitter, record)
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
