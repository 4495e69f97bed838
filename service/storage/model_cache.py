"""A bounded cache of upstream files, so re-importing a commit never downloads it again.

Entries are whole commits, ``_cache/<source>/<name>@<commit>/<path>`` in the models bucket
(server-side copies, so bytes never pass through the worker), listed in Redis with a
least-recently-used order and a running total. Past ``DEPOT_MODEL_CACHE_BYTES`` the oldest
entries are dropped. Losing the Redis part only costs downloads, never correctness: a
hit whose objects have vanished is treated as a miss."""

import asyncio
import json
import time

import redis.asyncio as redis

from service.domain.models import CACHE_PREFIX, ModelFile, Source
from service.errors import NotFound
from service.settings import Settings
from service.storage.objects import ObjectInfo, ObjectStore
from service.storage.redis import translate_errors as redis_errors


class ModelCache:
    def __init__(self, objects: ObjectStore, client: redis.Redis, settings: Settings) -> None:
        self.objects = objects
        self.client = client
        self.budget = settings.model_cache_bytes
        self.bucket = settings.bucket("models")
        self.prefix = f"{settings.redis_prefix}models:cache:"

    @staticmethod
    def entry_name(source: Source, name: str, commit: str) -> str:
        return f"{source.prefix}/{name}@{commit}"

    def _object(self, entry: str, path: str) -> str:
        return f"{CACHE_PREFIX}{entry}/{path}"

    async def lookup(self, entry: str) -> list[ModelFile] | None:
        """The files of a cached commit, or None."""
        if self.budget <= 0:
            return None
        async with redis_errors("read model cache"):
            raw = await self.client.hget(self.prefix + "entries", entry)
        return [ModelFile(**f) for f in json.loads(raw)["files"]] if raw else None

    async def restore(self, entry: str, files: list[ModelFile], target_prefix: str) -> bool:
        """Copy a cached commit under ``target_prefix``; False (and forget it) if it is incomplete."""
        try:
            for f in files:
                source = ObjectInfo(self.bucket, self._object(entry, f.path), f.size)
                await self.objects.copy(source, self.bucket, target_prefix + f.path, overwrite=True)
        except NotFound:
            await self.forget(entry)
            return False
        async with redis_errors("touch model cache"):
            await self.client.zadd(self.prefix + "lru", {entry: time.time()})
        return True

    async def remember(self, entry: str, files: list[ModelFile], source_prefix: str) -> bool:
        """Keep a copy of freshly imported files if they fit; evict the oldest beyond the budget."""
        size = sum(f.size for f in files)
        if self.budget <= 0 or size > self.budget or await self.lookup(entry) is not None:
            return False
        try:
            for f in files:
                info = ObjectInfo(self.bucket, source_prefix + f.path, f.size)
                await self.objects.copy(info, self.bucket, self._object(entry, f.path), overwrite=True)
        except BaseException:  # e.g. the model was deleted meanwhile: keep no partial copy
            await asyncio.shield(self.objects.delete_prefix(self.bucket, f"{CACHE_PREFIX}{entry}/"))
            raise
        record = json.dumps({"size": size, "files": [f.model_dump() for f in files]})
        async with redis_errors("write model cache"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self.prefix + "entries", entry, record)
                pipe.zadd(self.prefix + "lru", {entry: time.time()})
                pipe.hset(self.prefix + "sizes", entry, size)
                await pipe.execute()
        await self._evict()
        return True

    async def used(self) -> int:
        async with redis_errors("read model cache"):
            sizes = await self.client.hvals(self.prefix + "sizes")
        return sum(int(s) for s in sizes)

    async def _evict(self) -> None:
        while await self.used() > self.budget:
            async with redis_errors("read model cache"):
                oldest = await self.client.zrange(self.prefix + "lru", 0, 0)
            if not oldest:
                return
            await self.forget(oldest[0])

    async def forget(self, entry: str) -> None:
        async with redis_errors("evict model cache"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(self.prefix + "entries", entry)
                pipe.hdel(self.prefix + "sizes", entry)
                pipe.zrem(self.prefix + "lru", entry)
                await pipe.execute()
        await self.objects.delete_prefix(self.bucket, f"{CACHE_PREFIX}{entry}/")
