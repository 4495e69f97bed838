"""The model registry and import tasks: JSON in the models bucket (the truth), Redis as index.

Redis keys (under ``<redis_prefix>models:``): ``task:<id>`` (the task record), ``claim:<model
id>`` (the task that imports or imported it: the 409 check, taken atomically for every model
of a request at once), ``model:<id>`` (a list entry) and the ``idx:*`` sorted sets for pages.
A model exists once its manifest exists: files are written first, the manifest last."""

import hashlib
import json
from collections.abc import AsyncIterable, Callable
from typing import Any

import redis.asyncio as redis

from service.domain.models import (
    ModelManifest,
    Source,
    TaskRecord,
    TaskStatus,
    check_member_path,
    files_prefix,
    manifest_key,
    task_key,
    upload_key,
)
from service.domain.naming import MANIFEST_SUFFIX
from service.domain.records import format_time, time_score, utc_now
from service.errors import Conflict, NotFound
from service.settings import Settings
from service.storage.objects import ObjectStore, ObjectWriter
from service.storage.reader import ObjectReader
from service.storage.redis import translate_errors as redis_errors

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
        """Write the manifest (the completion mark) and index it; a rerun finds its own mark."""
        try:
            await self.objects.put_bytes(self.bucket, manifest_key(manifest.id),
                                         manifest.model_dump_json(indent=2).encode(), JSON)
        except Conflict:
            existing = await self.find_manifest(manifest.id)
            if existing is None or existing.task_id != manifest.task_id:
                raise Conflict(f"model {manifest.id} already exists") from None
            manifest = existing
        await self._index(manifest)
        return manifest

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

    async def _index(self, manifest: ModelManifest) -> None:
        async with redis_errors("index model"):
            async with self.client.pipeline(transaction=True) as pipe:
                self._queue_index(pipe, manifest)
                await pipe.execute()

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
        """Remove files, manifest, index entry and claim; 409 while an import of it runs."""
        manifest = await self.find_manifest(mid)
        owner = await self.claimed_by(mid)
        if manifest is None:
            if owner is not None and (await self.active_task(owner)) is not None:
                raise Conflict(f"model {mid} is still being imported")
            raise NotFound(f"model {mid} not found")
        await self.objects.delete(self.bucket, [manifest_key(mid)])
        await self.objects.delete_prefix(self.bucket, files_prefix(mid))
        async with redis_errors("unindex model"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key("model", mid), self._key("claim", mid))
                pipe.zrem(self._key("idx", "all"), mid)
                pipe.zrem(self._key("idx", manifest.source.value), mid)
                await pipe.execute()

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
                manifests.append(ModelManifest.model_validate(await self.objects.get_json(self.bucket, info.key)))
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

    async def discard_files(self, mid: str) -> None:
        """Remove what a failed import left under the model's prefix (no manifest was written)."""
        await self.objects.delete_prefix(self.bucket, files_prefix(mid))

    # the files of a model, written by the import job ---------------------------------
    def _file_key(self, mid: str, path: str) -> str:
        return files_prefix(mid) + check_member_path(path)

    async def finished_file(self, mid: str, path: str, task_id: str, size: int | None,
                            sha256: str | None) -> tuple[int, str] | None:
        """(size, sha256) of a file an earlier try of ``task_id`` wrote completely, if it matches."""
        key = self._file_key(mid, path)
        stored = await self.objects.head(self.bucket, key)
        if stored is not None and (size is None or stored == size):
            tags = await self.objects.get_tags(self.bucket, key)
            if tags.get("task") == task_id and tags.get("sha256") and (sha256 in (None, tags["sha256"])):
                return stored, tags["sha256"]
        return None

    async def write_file(self, mid: str, path: str, chunks: AsyncIterable[bytes], content_type: str,
                         tags: dict[str, str], check: Callable[[int, str], None]) -> tuple[int, str]:
        """Stream one model file into place, hashed as it passes; returns its (size, sha256).

        ``check(size, sha256)`` may refuse the bytes (by raising) before they land; the file
        is then tagged with ``tags`` plus its ``sha256``. Overwrites what an earlier try left."""
        key = self._file_key(mid, path)
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

    async def abort_stale_uploads(self, mid: str) -> None:
        """Abort the multipart uploads a killed earlier try left under the model's prefix."""
        await self.objects.abort_uploads(self.bucket, files_prefix(mid))

    async def prune(self, mid: str, keep: list[str]) -> None:
        """Remove every file under the model's prefix except the paths in ``keep`` (strays of earlier tries)."""
        prefix = files_prefix(mid)
        await self.objects.delete_prefix(self.bucket, prefix, keep={prefix + path for path in keep})

    # an uploaded ZIP, staged until the import job has unpacked it ---------------------
    def stage_zip(self, task_id: str) -> ObjectWriter:
        """A streaming writer of the task's uploaded ZIP (at ``upload_key``, never listed)."""
        return self.objects.writer("application/zip", lambda: (self.bucket, upload_key(task_id)))

    async def drop_zip(self, task_id: str) -> None:
        """Remove the task's staged ZIP (done, refused or failed); already gone is fine."""
        await self.objects.delete(self.bucket, [upload_key(task_id)])
