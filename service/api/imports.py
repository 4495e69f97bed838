"""Starting an import from a request: claim the model ids, record the task, enqueue the job.

Order matters: the claim (atomic, all ids or none) makes a second identical request a 409
even while the first is in flight; the task record exists before the job, so the
``Location`` resolves at once; if enqueueing fails the claim is released again."""

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from service.domain.models import Source, TaskRecord, TaskStatus
from service.domain.records import format_time, utc_now
from service.errors import DependencyDown, DepotError
from service.settings import Settings
from service.storage.index import Index
from service.storage.models import ModelStore
from service.storage.objects import ObjectStore
from service.workers.importers.base import new_http_client
from service.workers.importers.github import GitHub
from service.workers.importers.huggingface import HuggingFace
from service.workers.hf_datasets import HubDatasets

JOB = "import_model"


@dataclass
class Upstreams:
    hf: HuggingFace
    github: GitHub
    hf_datasets: HubDatasets


async def open_model_imports(
    stack: AsyncExitStack, objects: ObjectStore, index: Index, settings: Settings
) -> tuple[ModelStore, Upstreams]:
    """Lifespan helper: the registry and the upstream clients (one pooled httpx client)."""
    http = new_http_client()
    stack.push_async_callback(http.aclose)
    return ModelStore(objects, index.client, settings), Upstreams(
        HuggingFace(settings, http), GitHub(settings, http), HubDatasets(settings, http))


def new_task_id() -> str:
    return uuid.uuid4().hex


def task_location(task_id: str) -> str:
    return f"/v1/upload/tasks/{task_id}"


async def start_import(models: ModelStore, jobs: ArqRedis, task: TaskRecord, claims: list[str] | None = None,
                       job_name: str = JOB) -> str:
    """Claim (the task's model ids unless ``claims`` are given), record and enqueue; returns the
    task's URL path."""
    claims = task.model_ids if claims is None else claims
    await models.claim(claims, task.id)
    try:
        await models.save_task(task)
        try:
            job = await jobs.enqueue_job(job_name, task.id, _job_id=task.id)
        except (RedisError, OSError) as exc:
            raise DependencyDown("the job queue is unavailable") from exc
        if job is None:
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
