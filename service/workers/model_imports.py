"""The model import job: fetch, stage, scan, publish; retry only what may pass.

Idempotent by construction: files are staged under ``_staging/<task>/`` (a rerun
overwrites them, or skips those an earlier try finished, known by their tags), strays
from earlier tries are removed, the staged model is vetted (``model_vetting``), copied
to its final keys, and the manifest is written last as the completion mark.
Transient faults raise ``arq.Retry`` with doubling delays up to ``MAX_TRIES``; anything
else fails the task at once with a message and removes what it wrote."""

import logging
import mimetypes
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from arq import Retry

from service.domain.models import (
    ModelFile,
    ModelManifest,
    Source,
    TaskRecord,
    TaskStatus,
    files_prefix,
    missing_requirements,
    parse_requirements,
    staging_prefix,
    upload_key,
)
from service.domain.records import format_time, utc_now
from service.errors import DependencyDown, DepotError, InvalidInput, NotFound
from service.storage.model_cache import ModelCache
from service.storage.models import ModelStore
from service.upstreams import zip_archive as zipimport
from service.upstreams.base import SourceFile, Transient, is_transient
from service.upstreams.github import GitHub
from service.upstreams.huggingface import HuggingFace
from service.wiring import Clients
from service.workers import ingestion
from service.workers.model_vetting import vet

log = logging.getLogger("depot.worker")
MAX_TRIES = 3


def _backoff(ctx: dict[str, Any], job_try: int) -> float:
    return _clients(ctx).settings.model_retry_delay * 2 ** (job_try - 1)


def _clients(ctx: dict[str, Any]) -> Clients:
    """The worker's clients and stores (``service.wiring``), opened at start-up."""
    return ctx["clients"]

FollowUp = Callable[[], Awaitable[None]]  # work an importer leaves for after the task is DONE


async def run(ctx: dict[str, Any], task_id: str) -> str:
    """Run one try of an import task; returns its final status or raises ``Retry``.

    Our own records being unreachable (S3 or Redis down while reading or writing the task)
    is transient too: the try is retried, and a rerun picks up where this one stopped."""
    job_try = int(ctx.get("job_try", 1))
    try:
        return await _run(ctx, task_id, job_try)
    except DependencyDown as exc:
        if job_try >= MAX_TRIES:
            raise
        log.warning("import %s try %d could not reach storage, retrying: %s", task_id, job_try, exc.message)
        raise Retry(defer=_backoff(ctx, job_try)) from exc


async def _run(ctx: dict[str, Any], task_id: str, job_try: int) -> str:
    models: ModelStore = _clients(ctx).models
    try:
        task = await models.get_task(task_id)
    except NotFound:
        log.warning("import task %s has no record; nothing to do", task_id)
        return "missing"
    if task.task_status in (TaskStatus.DONE, TaskStatus.FAILED):
        return task.task_status.value
    if job_try > MAX_TRIES:  # the last try's worker died mid-job
        await _fail(ctx, task, f"gave up after {MAX_TRIES} tries (the last worker stopped mid-import)")
        return TaskStatus.FAILED.value
    task.task_status, task.attempts = TaskStatus.RUNNING, job_try
    await models.save_task(task)
    try:
        follow_up = await IMPORTERS[task.source](ctx, task)
    except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
        message = exc.message if isinstance(exc, DepotError) else f"internal error ({type(exc).__name__})"
        if is_transient(exc) and job_try < MAX_TRIES:
            delay = _backoff(ctx, job_try)
            log.warning("import %s try %d failed, retrying in %.1fs: %s", task.id, job_try, delay, message)
            task.task_status, task.error_msg = TaskStatus.PENDING, f"try {job_try} failed, retrying: {message}"
            await _save_quietly(models, task)
            raise Retry(defer=delay) from exc
        if not isinstance(exc, DepotError):
            log.exception("import %s failed unexpectedly", task.id)
        await _fail(ctx, task, message if job_try < MAX_TRIES or not is_transient(exc)
                    else f"gave up after {job_try} tries: {message}")
        return TaskStatus.FAILED.value
    task.task_status, task.error_msg = TaskStatus.DONE, None
    await models.save_task(task)
    await ingestion.model_imported(ctx, task)  # the model.imported event (never fails the import)
    if follow_up is not None:
        await follow_up()  # after DONE: the user does not wait for it (never fails the import)
    return TaskStatus.DONE.value


async def _save_quietly(models: ModelStore, task: TaskRecord) -> None:
    try:
        await models.save_task(task)
    except DepotError as exc:
        log.warning("could not record the retry of %s: %s", task.id, exc.message)


async def _fail(ctx: dict[str, Any], task: TaskRecord, message: str) -> None:
    """Permanent failure: drop partial files and claims so the same import can be asked again."""
    models: ModelStore = _clients(ctx).models
    for mid in task.model_ids:
        await models.discard_staging(task.id, mid)
        manifest = await models.find_manifest(mid)
        if manifest is None or manifest.task_id != task.id:
            await models.discard_files(mid)
    await models.release(task.model_ids, task.id)
    if task.source is Source.LOCAL:
        await models.drop_zip(task.id)
    task.task_status, task.error_msg = TaskStatus.FAILED, message
    await models.save_task(task)
    await ingestion.model_failed(ctx, task)  # the model.failed event (never fails the failure)


async def _store_file(models: ModelStore, mid: str, f: SourceFile, task: TaskRecord) -> ModelFile:
    """One file into S3 (or kept, if an earlier try of this task finished it), hashed as it passes."""
    done = await models.finished_file(task.id, mid, f.path, f.size, f.sha256)
    if done is not None:
        return ModelFile(path=f.path, size=done[0], sha256=done[1])

    def check(size: int, digest: str) -> None:
        if f.size is not None and size != f.size:
            raise Transient(f"{f.path}: got {size} bytes, expected {f.size}")
        if f.sha256 and digest != f.sha256:
            raise Transient(f"{f.path}: checksum mismatch")

    content_type = mimetypes.guess_type(f.path)[0] or "application/octet-stream"
    size, digest = await models.write_file(task.id, mid, f.path, f.chunks(), content_type, _tags(task), check)
    return ModelFile(path=f.path, size=size, sha256=digest)


def _tags(task: TaskRecord) -> dict[str, str]:
    tags = {"source": task.source.prefix, "task": task.id}
    if task.resolved_commit:
        tags["commit"] = task.resolved_commit
    return tags


async def _write_model(ctx: dict[str, Any], task: TaskRecord, mid: str, name: str,
                       files: Iterable[SourceFile] | AsyncIterable[SourceFile],
                       requirements: list[list[str]] | None) -> ModelManifest | None:
    models = _clients(ctx).models
    await models.abort_stale_uploads(task.id, mid)  # a killed earlier try's leftovers
    written: list[ModelFile] = []
    if isinstance(files, AsyncIterable):
        async for f in files:
            written.append(await _store_file(models, mid, f, task))
    else:
        for f in files:
            written.append(await _store_file(models, mid, f, task))
    if requirements and (missing := missing_requirements([f.path for f in written], requirements)):
        raise InvalidInput(f"{name} lacks required files: {', '.join(missing)}")
    return await _publish(ctx, task, mid, name, written)


async def _publish(ctx: dict[str, Any], task: TaskRecord, mid: str, name: str,
                   files: list[ModelFile]) -> ModelManifest | None:
    """Vet the staged files, copy them to their final keys, then write the manifest (the mark)."""
    models = _clients(ctx).models
    await models.prune(task.id, mid, keep=[f.path for f in files])
    report, signature = await vet(models, _clients(ctx).settings, task, mid, files)
    await models.promote(task.id, mid, files, _tags(task))
    manifest = ModelManifest(
        id=mid, source=task.source, name=name, revision=task.revision, resolved_commit=task.resolved_commit,
        files=sorted(files, key=lambda f: f.path), size=sum(f.size for f in files),
        imported_at=format_time(utc_now()), task_id=task.id, scan=report, signature=signature,
    )
    try:
        return await models.publish(manifest)
    except NotFound:  # deleted as it was published: the delete stands, the task goes on
        log.info("model %s of task %s was deleted while it was published", mid, task.id)
        return None


async def _republish(models: ModelStore, done: ModelManifest) -> None:
    """A rerun after the completion mark: make sure it is indexed (unless deleted meanwhile)."""
    try:
        await models.publish(done)
    except NotFound:
        pass


async def _from_upstream(
    ctx: dict[str, Any], task: TaskRecord, name: str, list_files, requirements
) -> FollowUp | None:
    """Shared by Hub and GitHub: a finished manifest, a cache hit, or a fresh download.

    A fresh download returns the step that copies it into the upstream cache, which the
    caller runs once the task is DONE: that copy is a second full write of the model."""
    models: ModelStore = _clients(ctx).models
    cache: ModelCache = _clients(ctx).cache
    mid = task.model_ids[0]
    if await models.deleted(mid, task.id):
        return None  # a rerun after the model was deleted: the delete stands
    done = await models.find_manifest(mid)
    if done is not None and done.task_id == task.id:
        await _republish(models, done)
        return None
    entry = cache.entry_name(task.source, name, task.resolved_commit)
    cached = await cache.lookup(entry)
    if cached is not None and await cache.restore(entry, cached, staging_prefix(task.id, mid)):
        task.details["cache_hit"] = True
        await _publish(ctx, task, mid, name, cached)  # scanned again: the policy or the scanner may be newer
        return None
    manifest = await _write_model(ctx, task, mid, name, await list_files(), requirements)
    if manifest is None:
        return None

    async def remember() -> None:
        try:
            await cache.remember(entry, manifest.files, files_prefix(mid))
        except DepotError as exc:
            log.warning("could not cache %s: %s", mid, exc.message)

    return remember


async def import_huggingface(ctx: dict[str, Any], task: TaskRecord) -> FollowUp | None:
    hf: HuggingFace = _clients(ctx).upstreams.hf
    repo = task.details["repo"]
    task.resolved_commit = await hf.resolve(repo, task.revision)
    await _clients(ctx).models.save_task(task)

    async def list_files() -> list[SourceFile]:
        return await hf.list_files(repo, task.resolved_commit)

    return await _from_upstream(ctx, task, repo, list_files, None)


async def import_github(ctx: dict[str, Any], task: TaskRecord) -> FollowUp | None:
    github: GitHub = _clients(ctx).upstreams.github
    owner, repo = task.details["owner"], task.details["repo"]
    task.resolved_commit = await github.resolve(owner, repo, task.revision)
    await _clients(ctx).models.save_task(task)

    async def list_files():
        return github.files(owner, repo, task.resolved_commit)

    requirements = parse_requirements(_clients(ctx).settings.model_required_files)
    return await _from_upstream(ctx, task, f"{owner}/{repo}", list_files, requirements)


async def import_local(ctx: dict[str, Any], task: TaskRecord) -> None:
    models: ModelStore = _clients(ctx).models
    key, size = upload_key(task.id), task.details["size"]
    pending = []
    for mid, name in zip(task.model_ids, task.details["names"], strict=True):
        if await models.deleted(mid, task.id):
            continue  # a rerun after the model was deleted: the delete stands
        done = await models.find_manifest(mid)
        if done is not None and done.task_id == task.id:
            await _republish(models, done)
        else:
            pending.append((mid, name))
    if not pending:
        await models.drop_zip(task.id)
        return
    settings = _clients(ctx).settings
    entries = await zipimport.read_directory(models.reader, models.bucket, key, size, settings)
    plan = zipimport.plan_models(entries, task.details.get("model_name"), task.details["fallback_name"], settings)
    for mid, name in pending:
        sources = [zipimport.entry_source(models.reader, models.bucket, key, e, p) for p, e in plan[name]]
        await _write_model(ctx, task, mid, name, sources, None)
    await models.drop_zip(task.id)


IMPORTERS = {Source.HUGGINGFACE: import_huggingface, Source.GITHUB: import_github, Source.LOCAL: import_local}
