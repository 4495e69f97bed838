"""The dataset import job: each file of a Hub dataset goes through the commit of an upload.

Every file is received like an uploaded one (``FileStore.start_upload`` → ``finish_upload``),
so the extension allow-list, category, sniffing, tags, manifest, index, dedup, the
``file.uploaded`` event and ingestion all hold by construction. Files outside the allow-list
are skipped, files the commit refuses (sniffing, dedup) fail alone; both are listed in the
task's report, saved after every file, so a retried try continues where the last one
stopped. Transient faults retry the job with doubling delays, like model imports; the
completion mark (``_datasets/...meta.json`` in the models bucket) is written last."""

import json
import logging
from typing import Any

from arq import Retry

from service.domain.datasets import (
    add_to_report,
    base_name,
    check_category,
    dataset_claim,
    new_report,
    seen_paths,
    skip_reason,
)
from service.domain.forms import UploadForm
from service.domain.models import TaskRecord, TaskStatus
from service.errors import DependencyDown, DepotError, NotFound
from service.storage.files import FileStore
from service.storage.models import ModelStore
from service.upstreams.base import SourceFile, is_transient
from service.wiring import Clients
from service.workers.model_imports import MAX_TRIES

log = logging.getLogger("depot.worker")


def _clients(ctx: dict[str, Any]) -> Clients:
    """The worker's clients and stores (``service.wiring``), opened at start-up."""
    return ctx["clients"]


async def run(ctx: dict[str, Any], task_id: str) -> str:
    """One try of a dataset import; its final status, or ``Retry`` for transient faults."""
    models: ModelStore = _clients(ctx).models
    job_try = int(ctx.get("job_try", 1))
    try:
        task = await models.get_task(task_id)
    except NotFound:
        log.warning("dataset task %s has no record; nothing to do", task_id)
        return "missing"
    if task.task_status in (TaskStatus.DONE, TaskStatus.FAILED):
        return task.task_status.value
    if job_try > MAX_TRIES:
        await _finish(models, task, f"gave up after {MAX_TRIES} tries (the last worker stopped mid-import)")
        return TaskStatus.FAILED.value
    task.task_status, task.attempts, task.error_msg = TaskStatus.RUNNING, job_try, None
    try:
        await models.save_task(task)
        await _import(ctx, task)
    except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
        message = exc.message if isinstance(exc, DepotError) else f"internal error ({type(exc).__name__})"
        if is_transient(exc) and job_try < MAX_TRIES:
            delay = _clients(ctx).settings.model_retry_delay * 2 ** (job_try - 1)
            log.warning("dataset import %s try %d failed, retrying in %.1fs: %s", task.id, job_try, delay, message)
            task.task_status, task.error_msg = TaskStatus.PENDING, f"try {job_try} failed, retrying: {message}"
            try:
                await models.save_task(task)
            except DepotError:
                pass
            raise Retry(defer=delay) from exc
        if not isinstance(exc, DepotError):
            log.exception("dataset import %s failed unexpectedly", task.id)
        await _finish(models, task, message if not is_transient(exc) else f"gave up after {job_try} tries: {message}")
        return TaskStatus.FAILED.value
    await _finish(models, task, None)
    return TaskStatus.DONE.value


async def _import(ctx: dict[str, Any], task: TaskRecord) -> None:
    hub = _clients(ctx).upstreams.hf_datasets
    details = task.details
    repo = details["repo"]
    task.resolved_commit = await hub.resolve(repo, task.revision)
    files = await hub.list_files(
        repo, task.resolved_commit, details.get("allow_patterns"), details.get("ignore_patterns")
    )
    if not files:
        raise DepotError(f"no file of dataset {repo}@{task.revision} matches the patterns")
    task.report = task.report or new_report()
    seen = seen_paths(task.report)
    category = check_category(details.get("category"))
    limit = _clients(ctx).settings.max_upload_size
    for source in files:
        if source.path in seen:
            continue
        reason = skip_reason(source.path, source.size, category, limit)
        if reason is not None:
            add_to_report(task.report, "skipped", {"hub_path": source.path, "reason": reason})
        else:
            try:
                entry = await _store(ctx, task, source)
            except DepotError as exc:
                if is_transient(exc):
                    raise
                add_to_report(task.report, "failed", {"hub_path": source.path, "error": exc.message})
            else:
                add_to_report(task.report, "stored", entry)
        await _clients(ctx).models.save_task(task)  # progress: a retry continues after this file


async def _store(ctx: dict[str, Any], task: TaskRecord, source: SourceFile) -> dict[str, Any]:
    """One file through the upload commit (sniffed as it streams), then queued for ingestion."""
    clients = _clients(ctx)
    files: FileStore = clients.files
    settings = clients.settings
    details = task.details
    form = UploadForm(settings.max_description_length, settings.max_metadata_bytes)
    form.add("purpose", details["purpose"])
    if details.get("category"):
        form.add("category", details["category"])
    form.add("description", f"{details['repo']}@{task.revision}: {source.path}"[: settings.max_description_length])
    form.add(
        "metadata",
        json.dumps(
            {
                "source": "huggingface",
                "repo_id": details["repo"],
                "revision": task.revision,
                "commit": task.resolved_commit,
                "hub_path": source.path,
                "task_id": task.id,
            }
        ),
    )
    pending = files.start_upload(form, base_name(source.path))
    try:
        async for chunk in source.chunks():
            await pending.write(chunk)
        record, event_id = await files.finish_upload(pending, clients.emitter.log)
    except BaseException:
        await pending.abort()
        raise
    try:
        await clients.emitter.process(record.path, event_id)
    except DepotError as exc:
        log.warning("imported file %s not queued for ingestion: %s", record.path, exc.message)
    entry = {"hub_path": source.path, "path": record.path, "size": record.size, "hash": record.hash}
    if record.duplicate_of:
        entry["duplicate_of"] = record.duplicate_of
    return entry


async def _finish(models: ModelStore, task: TaskRecord, error: str | None) -> None:
    """DONE: the completion mark, then the task. FAILED: the claim is released (a new request may
    try again); files already stored stay, as uploads, and are listed in the report."""
    claim = dataset_claim(task.details["repo"], task.revision)
    if error is None:
        mark = {
            "task_id": task.id,
            "repo_id": task.details["repo"],
            "revision": task.revision,
            "resolved_commit": task.resolved_commit,
            "report": task.report,
        }
        await models.mark_done(claim, mark)
        task.task_status = TaskStatus.DONE
    else:
        try:
            await models.release([claim], task.id)
        except DependencyDown:
            log.warning("could not release the claim of %s", task.id)
        task.task_status, task.error_msg = TaskStatus.FAILED, error
    await models.save_task(task)
