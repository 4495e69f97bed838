"""The model registry and import tasks: JSON in the models bucket (the truth), Redis as index.

Redis keys (under ``<redis_prefix>models:``): ``task:<id>`` (the task record), ``claim:<model
id>`` (the task that imports or imported it: the 409 check, taken atomically for every model
of a request at once), ``model:<id>`` (a list entry) and the ``idx:*`` sorted sets for pages.
A model exists once its manifest exists: files are written first, the manifest last."""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterable, Callable
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from service.domain.models import (
    UPLOADS_PREFIX,
    ModelFile,
    ModelManifest,
    Source,
    TaskRecord,
    TaskStatus,
    check_member_path,
    files_prefix,
    manifest_key,
    staging_prefix,
    task_key,
    upload_key,
)
from service.domain.naming import MANIFEST_SUFFIX
from service.domain.records import format_time, time_score, utc_now
from service.errors import Conflict, DepotError, NotFound
from service.settings import Settings
from service.storage.objects import ObjectInfo, ObjectStore, ObjectWriter
from service.storage.reader import ObjectReader
from service.storage.redis import translate_errors as redis_errors
from service.storage.tombstones import CLAIM_LUA, DELETE_LEASE_MS, TOMBSTONE_TTL, Claim, Tombstones

_CLAIM = """
for i = 1, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[1] then return i end
end
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
return 0
"""

_RELEASE = """
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]); n = n + 1 end
end
return n
"""

# A model's index entry, written only while no DELETE has claimed the model from this task
# (KEYS: tombstone, entry, order all, order of the source, claim; ARGV: task, entry, score, id).
_INDEX = CLAIM_LUA + """
if buried(KEYS[1], ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('SET', KEYS[5], ARGV[1])
return 1
"""

# A DELETE's claim of a model imported by task ARGV[1] and its unindexing, in one step (the
# claim key stays until the files are gone, so no new import writes under the prefix meanwhile).
_CLAIM_DELETE = CLAIM_LUA + """
local taken = claim(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
if not taken then return false end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[4])
redis.call('ZREM', KEYS[4], ARGV[4])
return taken
"""

JSON = "application/json"


class ModelStore:
    def __init__(self, objects: ObjectStore, client: redis.Redis, settings: Settings) -> None:
        self.objects = objects
        self.client = client
        self.settings = settings
        self.bucket = settings.bucket("models")
        self.prefix = f"{settings.redis_prefix}models:"
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self.reader = ObjectReader(objects)  # ranged reads of a staged ZIP (``service.upstreams.zip_archive``)
        self._index_script = client.register_script(_INDEX)
        self._claim_delete = client.register_script(_CLAIM_DELETE)
        self.tombstones = Tombstones(client)

    def _key(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}:{name}" if name else f"{self.prefix}{kind}"

    async def ensure_bucket(self) -> None:
        await self.objects.ensure_buckets([self.bucket])

    # tasks ----------------------------------------------------------------------
    async def save_task(self, task: TaskRecord) -> None:
        """S3 first (durable), then the Redis copy that status polls read."""
        task.updated_at = format_time(utc_now())
        raw = task.model_dump_json().encode()
        await self.objects.replace_bytes(self.bucket, task_key(task.id), raw, JSON)
        async with redis_errors("save task"):
            await self.client.set(self._key("task", task.id), raw)

    async def get_task(self, task_id: str) -> TaskRecord:
        async with redis_errors("read task"):
            raw = await self.client.get(self._key("task", task_id))
        if raw:
            return TaskRecord.model_validate_json(raw)
        try:
            data = await self.objects.get_json(self.bucket, task_key(task_id))
        except NotFound:
            raise NotFound(f"task {task_id} not found") from None
        return TaskRecord.model_validate(data)

    # claims: one task per model id ------------------------------------------------
    async def claim(self, model_ids: list[str], task_id: str) -> None:
        """Reserve every id for ``task_id`` or none; 409 names the first one taken."""
        for mid in model_ids:
            if await self.objects.head(self.bucket, manifest_key(mid)) is not None:
                raise Conflict(f"model {mid} already exists")
        async with redis_errors("claim model"):
            taken = await self._claim(keys=[self._key("claim", m) for m in model_ids], args=[task_id])
        if taken:
            raise Conflict(f"model {model_ids[int(taken) - 1]} is already imported or being imported")

    async def release(self, model_ids: list[str], task_id: str) -> None:
        async with redis_errors("release model"):
            await self._release(keys=[self._key("claim", m) for m in model_ids], args=[task_id])

    async def claimed_by(self, mid: str) -> str | None:
        async with redis_errors("read claim"):
            return await self.client.get(self._key("claim", mid))

    # models -----------------------------------------------------------------------
    async def find_manifest(self, mid: str) -> ModelManifest | None:
        try:
            return ModelManifest.model_validate(await self.objects.get_json(self.bucket, manifest_key(mid)))
        except NotFound:
            return None

    async def publish(self, manifest: ModelManifest) -> ModelManifest:
        """Write the manifest (the completion mark) and index it; a rerun finds its own mark.

        ``NotFound`` when a DELETE claimed the model from this task meanwhile: what the write
        brought back is removed again (tombstones.py)."""
        await self._check_alive(manifest.id, manifest.task_id)
        try:
            await self.objects.put_bytes(self.bucket, manifest_key(manifest.id),
                                         manifest.model_dump_json(indent=2).encode(), JSON)
        except Conflict:
            existing = await self.find_manifest(manifest.id)
            if existing is None or existing.task_id != manifest.task_id:
                raise Conflict(f"model {manifest.id} already exists") from None
            manifest = existing
        await self._index(manifest)
        await self._check_alive(manifest.id, manifest.task_id)
        return manifest

    async def deleted(self, mid: str, task_id: str) -> bool:
        """True once a DELETE claimed the model that ``task_id`` imported: the task must not write it."""
        return await self.tombstones.buried(self._key("gone", mid), task_id)

    async def _check_alive(self, mid: str, task_id: str) -> None:
        if await self.deleted(mid, task_id):
            if await self.claimed_by(mid) in (None, task_id):  # no newer import of this id began
                await self._remove_objects(mid)
            raise NotFound(f"model {mid} was deleted")

    async def _remove_objects(self, mid: str) -> None:
        await self.objects.abort_uploads(self.bucket, files_prefix(mid))
        await self.objects.delete(self.bucket, [manifest_key(mid)])
        await self.objects.delete_prefix(self.bucket, files_prefix(mid))
    async def mark_done(self, claim: str, mark: dict[str, Any]) -> None:
        """The completion mark of a claim that is no model (a Hub dataset import, ``_datasets/``):
        it makes a later ``claim`` of the same name a 409, like a model's manifest."""
        await self.objects.replace_bytes(self.bucket, manifest_key(claim), json.dumps(mark).encode(), JSON)

    def _queue_index(self, pipe, manifest: ModelManifest) -> None:
        """Queue on ``pipe`` the index entry of one model: its list entry, orders and claim."""
        score = time_score(manifest.imported_at)
        pipe.set(self._key("model", manifest.id), json.dumps(manifest.list_view()))
        pipe.zadd(self._key("idx", "all"), {manifest.id: score})
        pipe.zadd(self._key("idx", manifest.source.value), {manifest.id: score})
        pipe.set(self._key("claim", manifest.id), manifest.task_id)

    def _entry_keys(self, mid: str, source: Source) -> list[str]:
        return [self._key("gone", mid), self._key("model", mid), self._key("idx", "all"),
                self._key("idx", source.value)]

    async def _index(self, manifest: ModelManifest) -> bool:
        keys = [*self._entry_keys(manifest.id, manifest.source), self._key("claim", manifest.id)]
        args = [manifest.task_id, json.dumps(manifest.list_view()), time_score(manifest.imported_at), manifest.id]
        async with redis_errors("index model"):
            return bool(await self._index_script(keys=keys, args=args))

    async def get_model(self, mid: str) -> ModelManifest:
        manifest = await self.find_manifest(mid)
        if manifest is None:
            raise NotFound(f"model {mid} not found")
        return manifest

    async def page(self, source: Source | None, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        order = self._key("idx", source.value if source else "all")
        async with redis_errors("list models"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(order)
                pipe.zrevrange(order, offset, offset + limit - 1)
                total, ids = await pipe.execute()
            raws = await self.client.mget([self._key("model", i) for i in ids]) if ids else []
        return total, [json.loads(raw) for raw in raws if raw]

    async def delete_model(self, mid: str) -> None:
        """Remove files, manifest, index entry and claim; 409 while an import of it runs.

        The claim of the delete (one atomic step with the unindexing) picks one winner among
        concurrent DELETEs and stops the importing task from writing the model again."""
        manifest = await self.find_manifest(mid)
        owner = await self.claimed_by(mid)
        if manifest is None and owner is not None:
            if (await self.active_task(owner)) is not None:
                raise Conflict(f"model {mid} is still being imported")
            manifest = await self.find_manifest(mid)  # the import may have ended since the first look
        if manifest is None:
            if owner is None or not await self.deleted(mid, owner):
                raise NotFound(f"model {mid} not found")
            task_id = owner  # a delete that failed midway: resumed below
        else:
            task_id = manifest.task_id
        gone = self._key("gone", mid)
        source = manifest.source if manifest is not None else Source.HUGGINGFACE
        keys = self._entry_keys(mid, source)
        async with redis_errors("unindex model"):
            claim = Claim.of(await self._claim_delete(keys=keys, args=[task_id, TOMBSTONE_TTL, DELETE_LEASE_MS, mid]))
        if claim is Claim.LOST:  # deleted by another DELETE; what a killed writer put back goes too
            if manifest is not None and await self.claimed_by(mid) in (None, task_id):
                await self._remove_objects(mid)
            raise NotFound(f"model {mid} not found")
        try:
            await self._remove_objects(mid)
            await self.release([mid], task_id)
        except BaseException:
            await asyncio.shield(self._retry_later(gone, task_id))
            raise
        await self.tombstones.finish(gone, task_id)

    async def _retry_later(self, gone: str, task_id: str) -> None:
        try:
            await self.tombstones.retry(gone, task_id)
        except DepotError:
            pass  # the claim's lease lapses and the next DELETE takes over

    async def active_task(self, task_id: str) -> TaskRecord | None:
        try:
            task = await self.get_task(task_id)
        except NotFound:
            return None
        return task if task.task_status in (TaskStatus.PENDING, TaskStatus.RUNNING) else None

    async def rebuild(self) -> int:
        """Recreate the registry index from the manifests in S3 (``depot reindex``); claims of
        imports in flight are kept."""
        await self.ensure_bucket()
        manifests = []
        async for info in self.objects.iter_objects(self.bucket, ""):
            if info.key.endswith(MANIFEST_SUFFIX) and not info.key.startswith("_"):
                manifest = ModelManifest.model_validate(await self.objects.get_json(self.bucket, info.key))
                if not await self.deleted(manifest.id, manifest.task_id):  # deleted while listed
                    manifests.append(manifest)
        async with redis_errors("rebuild model index"):
            stale = [k async for k in self.client.scan_iter(f"{self.prefix}model:*", count=1000)]
            stale += [k async for k in self.client.scan_iter(f"{self.prefix}idx:*", count=1000)]
            async with self.client.pipeline(transaction=True) as pipe:
                if stale:
                    pipe.delete(*stale)
                for manifest in manifests:
                    self._queue_index(pipe, manifest)
                await pipe.execute()
        return len(manifests)

    async def abort_uploads_begun_before(self, before: datetime) -> list[str]:
        """Abort the multipart uploads begun before ``before`` in the models bucket (a killed
        import's); returns them as ``<bucket>/<key>``."""
        return [f"{self.bucket}/{key}" for key in await self.objects.abort_stale_uploads(self.bucket, before)]

    async def discard_stale_uploads(self, before: datetime) -> list[str]:
        """Remove staged ZIPs (``_uploads/``) written before ``before`` whose task is not running:
        what an API process that crashed mid-request, or a lost task, left behind."""
        removed = []
        async for key in self.objects.iter_older(self.bucket, UPLOADS_PREFIX, before):
            task_id = key.removeprefix(UPLOADS_PREFIX).removesuffix(".zip")
            if await self.active_task(task_id) is None:
                await self.objects.delete(self.bucket, [key])
                removed.append(key)
        return removed

    async def discard_files(self, mid: str) -> None:
        """Remove what a failed import left under the model's prefix (no manifest was written)."""
        await self.objects.delete_prefix(self.bucket, files_prefix(mid))

    # the files of a model: staged by the import job, scanned, then published -------------
    def staged_key(self, task_id: str, mid: str, path: str) -> str:
        return staging_prefix(task_id, mid) + check_member_path(path)

    async def finished_file(self, task_id: str, mid: str, path: str, size: int | None,
                            sha256: str | None) -> tuple[int, str] | None:
        """(size, sha256) of a file an earlier try of ``task_id`` staged completely, if it matches."""
        key = self.staged_key(task_id, mid, path)
        stored = await self.objects.head(self.bucket, key)
        if stored is not None and (size is None or stored == size):
            tags = await self.objects.get_tags(self.bucket, key)
            if tags.get("task") == task_id and tags.get("sha256") and (sha256 in (None, tags["sha256"])):
                return stored, tags["sha256"]
        return None

    async def write_file(self, task_id: str, mid: str, path: str, chunks: AsyncIterable[bytes],
                         content_type: str, tags: dict[str, str],
                         check: Callable[[int, str], None]) -> tuple[int, str]:
        """Stream one model file into the task's staging prefix, hashed as it passes; returns (size, sha256).

        ``check(size, sha256)`` may refuse the bytes (by raising) before they land; the file
        is then tagged with ``tags`` plus its ``sha256``. Overwrites what an earlier try left."""
        key = self.staged_key(task_id, mid, path)
        writer = self.objects.writer(content_type, lambda: (self.bucket, key), overwrite=True)
        hasher = hashlib.sha256()
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                await writer.write(chunk)
            check(writer.size, hasher.hexdigest())
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        digest = hasher.hexdigest()
        await self.objects.set_tags(self.bucket, key, {**tags, "sha256": digest})
        return writer.size, digest

    async def read_staged(self, task_id: str, mid: str, path: str, size: int) -> bytes:
        """A small staged file whole (a signature); the caller bounds ``size``."""
        if size == 0:
            return b""
        return await self.objects.read_range(self.bucket, self.staged_key(task_id, mid, path), 0, size - 1)

    async def abort_stale_uploads(self, task_id: str, mid: str) -> None:
        """Abort the multipart uploads a killed earlier try left in the task's staging prefix."""
        await self.objects.abort_uploads(self.bucket, staging_prefix(task_id, mid))

    async def prune(self, task_id: str, mid: str, keep: list[str]) -> None:
        """Remove every staged file except the paths in ``keep`` (strays of earlier tries)."""
        prefix = staging_prefix(task_id, mid)
        await self.objects.delete_prefix(self.bucket, prefix, keep={prefix + path for path in keep})

    async def promote(self, task_id: str, mid: str, files: list[ModelFile], tags: dict[str, str]) -> None:
        """Server-side copy of the scanned files to their final keys, then drop the staging prefix.

        Only the manifest (written after this) makes the model visible, so a crash between
        the copies leaves nothing listed; the rerun copies again (overwriting)."""
        final = files_prefix(mid)
        await self.objects.delete_prefix(self.bucket, final, keep={final + f.path for f in files})
        for f in files:
            source = ObjectInfo(self.bucket, self.staged_key(task_id, mid, f.path), f.size)
            await self.objects.copy(source, self.bucket, final + f.path, overwrite=True)
            await self.objects.set_tags(self.bucket, final + f.path, {**tags, "sha256": f.sha256})
        await self.discard_staging(task_id, mid)

    async def discard_staging(self, task_id: str, mid: str) -> None:
        """Remove a task's staged files of one model (published, refused or failed)."""
        await self.objects.abort_uploads(self.bucket, staging_prefix(task_id, mid))
        await self.objects.delete_prefix(self.bucket, staging_prefix(task_id, mid))

    # an uploaded ZIP, staged until the import job has unpacked it ---------------------
    def stage_zip(self, task_id: str) -> ObjectWriter:
        """A streaming writer of the task's uploaded ZIP (at ``upload_key``, never listed)."""
        return self.objects.writer("application/zip", lambda: (self.bucket, upload_key(task_id)))

    async def drop_zip(self, task_id: str) -> None:
        """Remove the task's staged ZIP (done, refused or failed); already gone is fine."""
        await self.objects.delete(self.bucket, [upload_key(task_id)])
