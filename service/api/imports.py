"""Starting an import from a request: claim the model ids, record the task, enqueue the job.

Order matters: the claim (atomic, all ids or none) makes a second identical request a 409
even while the first is in flight; the task record exists before the job, so the
``Location`` resolves at once; if enqueueing fails the claim is released again."""

import uuid

from service.domain.jobs import IMPORT_MODEL
from service.domain.models import Source, TaskRecord, TaskStatus
from service.domain.records import format_time, utc_now
from service.errors import DependencyDown, DepotError
from service.storage.models import ModelStore
from service.storage.queue import JobQueue


def new_task_id() -> str:
    return uuid.uuid4().hex


def task_location(task_id: str) -> str:
    return f"/v1/upload/tasks/{task_id}"


async def start_import(models: ModelStore, queue: JobQueue, task: TaskRecord, claims: list[str] | None = None,
                       job_name: str = IMPORT_MODEL) -> str:
    """Claim (the task's model ids unless ``claims`` are given), record and enqueue ``job_name``;
    returns the task's URL path."""
    claims = task.model_ids if claims is None else claims
    await models.claim(claims, task.id)
    try:
        await models.save_task(task)
        try:
            queued = await queue.enqueue(job_name, task.id, job_id=task.id)
        except DependencyDown as exc:
            raise DependencyDown("the job queue is unavailable") from exc
        if not queued:
            raise DepotError(f"job {task.id} exists already")
    except BaseException as exc:
        await models.release(claims, task.id)
        task.task_status = TaskStatus.FAILED
        task.error_msg = getattr(exc, "message", "the import could not be queued")
        try:
            await models.save_task(task)
        except DepotError:
            pass  # the client got the error; a stale PENDING record is all that remains
        raise
    return task_location(task.id)


def new_task(task_id: str, source: Source, model_tag: str, revision: str, model_ids: list[str],
             **details: object) -> TaskRecord:
    now = format_time(utc_now())
    return TaskRecord(id=task_id, model_tag=model_tag, source=source, created_at=now, updated_at=now,
                      revision=revision, model_ids=model_ids, details=details)
