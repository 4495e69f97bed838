"""The Redis index behind list pages and stats: O(log N + page) and O(1), whatever N is.

S3 manifests are the truth; this index is derived from them and ``rebuild`` recreates
it exactly. Add and remove run as Lua scripts, so each is atomic and idempotent: a
retried add or a double delete never skews the counters."""

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from service.domain.categories import Category, Purpose
from service.domain.records import FileRecord, time_score
from service.errors import DependencyDown

_ADD = """
if redis.call('SETNX', KEYS[1], ARGV[2]) == 0 then return 0 end
for i = 2, 5 do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
redis.call('HINCRBY', KEYS[6], ARGV[4] .. ':count', 1)
redis.call('HINCRBY', KEYS[6], ARGV[4] .. ':size', ARGV[5])
return 1
"""

_REMOVE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
redis.call('DEL', KEYS[1])
for i = 2, 5 do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('HINCRBY', KEYS[6], ARGV[2] .. ':count', -1)
redis.call('HINCRBY', KEYS[6], ARGV[2] .. ':size', -tonumber(entry['size']))
return 1
"""


@asynccontextmanager
async def translate_errors(action: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise DependencyDown(f"{action}: index unavailable") from exc


class Index:
    """Sorted sets per filter (newest first), one JSON entry per file, and counters."""

    def __init__(self, client: redis.Redis, prefix: str = "depot:") -> None:
        self.client = client
        self.prefix = prefix
        self._add = client.register_script(_ADD)
        self._remove = client.register_script(_REMOVE)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, prefix: str = "depot:") -> AsyncIterator["Index"]:
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=3, socket_timeout=10,
            health_check_interval=15, retry_on_timeout=True,
        )
        try:
            yield cls(client, prefix)
        finally:
            await client.aclose()

    # key layout -----------------------------------------------------------------
    def _entry_key(self, path: str) -> str:
        return f"{self.prefix}file:{path}"

    def _order_key(self, purpose: Purpose | None = None, category: Category | None = None) -> str:
        if purpose and category:
            return f"{self.prefix}idx:pc:{purpose.value}:{category.value}"
        if purpose:
            return f"{self.prefix}idx:p:{purpose.value}"
        if category:
            return f"{self.prefix}idx:c:{category.value}"
        return f"{self.prefix}idx:all"

    @property
    def _stats_key(self) -> str:
        return f"{self.prefix}stats"

    def _keys_for(self, purpose: Purpose, category: Category, path: str) -> list[str]:
        return [
            self._entry_key(path),
            self._order_key(),
            self._order_key(purpose),
            self._order_key(None, category),
            self._order_key(purpose, category),
            self._stats_key,
        ]

    # operations -----------------------------------------------------------------
    async def ping(self) -> None:
        async with translate_errors("check index"):
            await self.client.ping()

    async def add(self, record: FileRecord) -> bool:
        """Index a stored file; False when it was indexed already."""
        args = [
            record.path,
            json.dumps(record.list_view()),
            time_score(record.uploaded_at),
            f"{record.purpose.value}:{record.category.value}",
            record.size,
        ]
        async with translate_errors("index file"):
            keys = self._keys_for(record.purpose, record.category, record.path)
            return bool(await self._add(keys=keys, args=args))

    async def remove(self, purpose: Purpose, category: Category, path: str) -> bool:
        """Forget a file; False when it was not indexed."""
        async with translate_errors("unindex file"):
            keys = self._keys_for(purpose, category, path)
            return bool(await self._remove(keys=keys, args=[path, f"{purpose.value}:{category.value}"]))

    async def get(self, path: str) -> dict[str, Any] | None:
        async with translate_errors("read index"):
            raw = await self.client.get(self._entry_key(path))
        return json.loads(raw) if raw else None

    async def page(
        self, purpose: Purpose | None, category: Category | None, limit: int, offset: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, entries) of one page, newest first."""
        order = self._order_key(purpose, category)
        async with translate_errors("list files"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(order)
                pipe.zrevrange(order, offset, offset + limit - 1)
                total, paths = await pipe.execute()
            raws = await self.client.mget([self._entry_key(p) for p in paths]) if paths else []
        return total, [json.loads(raw) for raw in raws if raw]

    async def stats(self) -> dict[str, Any]:
        """The nested counters of the contract's ``/stats``."""
        async with translate_errors("read stats"):
            counters = await self.client.hgetall(self._stats_key)
        return build_stats(counters)

    async def rebuild(self, records: Iterable[FileRecord]) -> int:
        """Replace the whole index with exactly ``records`` in one transaction."""
        records = list(records)
        async with translate_errors("rebuild index"):
            stale = [key async for key in self.client.scan_iter(f"{self.prefix}file:*", count=1000)]
            stale += [key async for key in self.client.scan_iter(f"{self.prefix}idx:*", count=1000)]
            counters: dict[str, int] = {}
            async with self.client.pipeline(transaction=True) as pipe:
                if stale:
                    pipe.delete(*stale)
                pipe.delete(self._stats_key)
                for record in records:
                    keys = self._keys_for(record.purpose, record.category, record.path)
                    pipe.set(keys[0], json.dumps(record.list_view()))
                    score = time_score(record.uploaded_at)
                    for order in keys[1:5]:
                        pipe.zadd(order, {record.path: score})
                    group = f"{record.purpose.value}:{record.category.value}"
                    counters[f"{group}:count"] = counters.get(f"{group}:count", 0) + 1
                    counters[f"{group}:size"] = counters.get(f"{group}:size", 0) + record.size
                if counters:
                    pipe.hset(self._stats_key, mapping=counters)
                await pipe.execute()
        return len(records)


def build_stats(counters: dict[str, str]) -> dict[str, Any]:
    """Counters ``<purpose>:<category>:count|size`` → the contract's nested shape.

    Both purposes are always present (zero when empty) so clients can index them;
    categories appear once they hold a file."""
    by_purpose: dict[str, Any] = {
        p.value: {"count": 0, "size": 0, "by_category": {}} for p in Purpose
    }
    by_category: dict[str, dict[str, int]] = {}
    for field, raw in sorted(counters.items()):
        purpose, category, kind = field.split(":")
        value = int(raw)
        if purpose not in by_purpose or (kind == "count" and value == 0):
            continue
        if kind == "size" and int(counters.get(f"{purpose}:{category}:count", 0)) == 0:
            continue
        bucket = by_purpose[purpose]
        bucket[kind] += value
        bucket["by_category"].setdefault(category, {"count": 0, "size": 0})[kind] += value
        by_category.setdefault(category, {"count": 0, "size": 0})[kind] += value
    return {
        "total_files": sum(p["count"] for p in by_purpose.values()),
        "total_size": sum(p["size"] for p in by_purpose.values()),
        "by_purpose": by_purpose,
        "by_category": by_category,
    }
