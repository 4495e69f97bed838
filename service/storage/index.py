"""The Redis index behind list pages and stats: O(log N + page) and O(1), whatever N is.

S3 manifests are the truth; this index is derived from them and ``rebuild`` recreates
it exactly. Add and remove run as Lua scripts, so each is atomic and idempotent: a
retried add or a double delete never skews the counters."""

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from service.domain.categories import Category, Purpose
from service.domain.records import FileRecord, Status, format_time, time_score
from service.errors import Conflict
from service.storage.redis import open_redis, translate_errors
from service.storage.tombstones import CLAIM_LUA, DELETE_LEASE_MS, TOMBSTONE_TTL, Claim, Tombstones, file_tombstone

_ADD = """
if redis.call('EXISTS', KEYS[12]) == 1 then return {-2, '', ''} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, '', ''} end
local first = redis.call('ZRANGE', KEYS[11], 0, 0)[1] or ''
if ARGV[6] == '1' and first ~= '' then return {-1, first, ''} end
redis.call('SET', KEYS[1], ARGV[2])
for i = 2, 5 do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
for i = 7, 11 do redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1]) end
redis.call('HINCRBY', KEYS[6], ARGV[4] .. ':count', 1)
redis.call('HINCRBY', KEYS[6], ARGV[4] .. ':size', ARGV[5])
local id = ''
if KEYS[13] then id = redis.call('XADD', KEYS[13], 'MAXLEN', '~', ARGV[7], '*', 'type', ARGV[8], 'data', ARGV[9]) end
return {1, first, id}
"""

# A DELETE's claim (see tombstones.py) and, if the file is indexed, its removal, in one step:
# exactly one of concurrent DELETEs wins, and no background write can index the file again.
_CLAIM_DELETE = CLAIM_LUA + """
local taken = claim(KEYS[1], '', ARGV[3], ARGV[4])
if not taken then return false end
local raw = redis.call('GET', KEYS[2])
if not raw then return taken end
local entry = cjson.decode(raw)
redis.call('DEL', KEYS[2])
for i = 3, 6 do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = 8, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
redis.call('HINCRBY', KEYS[7], ARGV[2] .. ':count', -1)
redis.call('HINCRBY', KEYS[7], ARGV[2] .. ':size', -tonumber(entry['size']))
redis.call('ZREM', ARGV[5] .. entry['hash'], ARGV[1])  -- the hash lookup, named by the entry
return 'indexed'
"""

# Move a file between the status sets (KEYS[3..6]: its new status; KEYS[7..]: every status).
_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then return 0 end
for i = 7, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = 3, 6 do redis.call('ZADD', KEYS[i], score, ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class StreamEntry:
    """An entry for a Redis stream (an event), appended in the same script as the write it records."""

    key: str
    max_len: int
    type: str
    data: str


class Index:
    """Sorted sets per filter (newest first), one JSON entry per file, and counters."""

    def __init__(self, client: redis.Redis, prefix: str = "depot:") -> None:
        self.client = client
        self.prefix = prefix
        self._add = client.register_script(_ADD)
        self._claim_delete = client.register_script(_CLAIM_DELETE)
        self.tombstones = Tombstones(client)
        self._status = client.register_script(_STATUS)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, prefix: str = "depot:") -> AsyncIterator["Index"]:
        async with open_redis(url) as client:
            yield cls(client, prefix)

    # key layout -----------------------------------------------------------------
    def _entry_key(self, path: str) -> str:
        return f"{self.prefix}file:{path}"

    def gone_key(self, path: str) -> str:
        """The tombstone of a deleted file (tombstones.py)."""
        return file_tombstone(self.prefix, path)

    def _order_key(
        self, purpose: Purpose | None = None, category: Category | None = None, status: Status | None = None
    ) -> str:
        if status:
            # With a status: the same four shapes, each split by status (kept in step by _STATUS).
            base = self._order_key(purpose, category).removeprefix(f"{self.prefix}idx:")
            return f"{self.prefix}idx:s:{status.value}:{base}"
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

    def _hash_key(self, purpose: Purpose, digest: str) -> str:
        """Paths of one purpose holding one content, oldest first (the duplicate lookup)."""
        return f"{self.prefix}hash:{purpose.value}:{digest}"

    def _keys_for(self, purpose: Purpose, category: Category, path: str) -> list[str]:
        return [
            self._entry_key(path),
            self._order_key(),
            self._order_key(purpose),
            self._order_key(None, category),
            self._order_key(purpose, category),
            self._stats_key,
        ]

    def _status_keys(self, purpose: Purpose, category: Category, status: Status) -> list[str]:
        return [self._order_key(p, c, status) for p, c in ((None, None), (purpose, None), (None, category),
                                                           (purpose, category))]

    # operations -----------------------------------------------------------------
    async def ping(self) -> None:
        async with translate_errors("check index"):
            await self.client.ping()

    async def add_file(
        self, record: FileRecord, reject_duplicate: bool = False, event: StreamEntry | None = None
    ) -> tuple[bool, str | None, str | None]:
        """Index a stored file: (added, the oldest other path with the same content if any,
        the id of ``event`` if it was appended).

        With ``reject_duplicate``, a file whose content its purpose already holds is not
        indexed and ``Conflict`` names the existing path (checked atomically). ``event`` is
        appended in the same step as the entry, so an indexed file always has its event."""
        args = [
            record.path,
            json.dumps(record.list_view()),
            time_score(record.uploaded_at),
            f"{record.purpose.value}:{record.category.value}",
            record.size,
            "1" if reject_duplicate else "0",
        ]
        async with translate_errors("index file"):
            keys = self._keys_for(record.purpose, record.category, record.path)
            keys += self._status_keys(record.purpose, record.category, record.status)
            keys += [self._hash_key(record.purpose, record.hash), self.gone_key(record.path)]
            if event is not None:
                keys.append(event.key)
                args += [event.max_len, event.type, event.data]
            added, first, event_id = await self._add(keys=keys, args=args)
        if added == -1:
            raise Conflict(f"this content is already stored as {first}")
        if added == -2:
            raise Conflict(f"{record.path} was deleted while it was being stored")
        return added == 1, (first or None) if first != record.path else None, event_id or None

    async def set_status(self, record: FileRecord) -> bool:
        """Move an indexed file to ``record.status`` (entry and status sets, atomically)."""
        keys = [self._entry_key(record.path), self._order_key()]
        keys += self._status_keys(record.purpose, record.category, record.status)
        for status in Status:
            keys += self._status_keys(record.purpose, record.category, status)
        async with translate_errors("index status"):
            return bool(await self._status(keys=keys, args=[record.path, json.dumps(record.list_view())]))

    async def first_with_hash(self, purpose: Purpose, digest: str) -> str | None:
        """The oldest stored path of ``purpose`` with this SHA-256, if any."""
        async with translate_errors("read index"):
            found = await self.client.zrange(self._hash_key(purpose, digest), 0, 0)
        return found[0] if found else None

    async def claim_delete(self, purpose: Purpose, category: Category, path: str) -> Claim:
        """Claim the deletion of a file (its tombstone) and unindex it, atomically."""
        keys = [self.gone_key(path), *self._keys_for(purpose, category, path)]
        for status in Status:
            keys += self._status_keys(purpose, category, status)
        args = [path, f"{purpose.value}:{category.value}", TOMBSTONE_TTL, DELETE_LEASE_MS,
                self._hash_key(purpose, "")]
        async with translate_errors("unindex file"):
            return Claim.of(await self._claim_delete(keys=keys, args=args))

    async def buried(self, path: str) -> bool:
        """True once a DELETE of ``path`` has claimed it: background writers must stop."""
        return await self.tombstones.buried(self.gone_key(path))

    async def buried_paths(self) -> AsyncIterator[str]:
        """Paths of the files deleted within the tombstones' lifetime (the sweeper's re-check)."""
        start = len(self.gone_key(""))
        async with translate_errors("list tombstones"):
            async for key in self.client.scan_iter(self.gone_key("*"), count=1000):
                yield key[start:]

    async def pending_before(self, moment: datetime, page: int = 1000) -> AsyncIterator[str]:
        """Paths still ``pending`` that were uploaded before ``moment``, oldest first, paged."""
        order, top = self._order_key(status=Status.pending), time_score(format_time(moment))
        offset = 0
        while True:
            async with translate_errors("list pending files"):
                paths = await self.client.zrangebyscore(order, "-inf", top, start=offset, num=page)
            for path in paths:
                yield path
            if len(paths) < page:
                return
            offset += page

    async def get(self, path: str) -> dict[str, Any] | None:
        async with translate_errors("read index"):
            raw = await self.client.get(self._entry_key(path))
        return json.loads(raw) if raw else None

    async def page(
        self, purpose: Purpose | None, category: Category | None, limit: int, offset: int,
        status: Status | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, entries) of one page, newest first."""
        order = self._order_key(purpose, category, status)
        async with translate_errors("list files"):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(order)
                pipe.zrevrange(order, offset, offset + limit - 1)
                total, paths = await pipe.execute()
            raws = await self.client.mget([self._entry_key(p) for p in paths]) if paths else []
        return total, [json.loads(raw) for raw in raws if raw]

    async def stats(self, only: Purpose | None = None) -> dict[str, Any]:
        """The nested counters of the contract's ``/stats`` (of one purpose only, if given)."""
        async with translate_errors("read stats"):
            counters = await self.client.hgetall(self._stats_key)
        return build_stats(counters, only)

    async def rebuild(self, records: Iterable[FileRecord]) -> int:
        """Replace the whole index with exactly ``records`` in one transaction."""
        records = list(records)
        async with translate_errors("rebuild index"):
            if records:  # files deleted while the manifests were read stay deleted
                gone = await self.client.mget([self.gone_key(r.path) for r in records])
                records = [r for r, buried in zip(records, gone, strict=True) if buried is None]
            stale = [key async for key in self.client.scan_iter(f"{self.prefix}file:*", count=1000)]
            stale += [key async for key in self.client.scan_iter(f"{self.prefix}idx:*", count=1000)]
            stale += [key async for key in self.client.scan_iter(f"{self.prefix}hash:*", count=1000)]
            counters: dict[str, int] = {}
            async with self.client.pipeline(transaction=True) as pipe:
                if stale:
                    pipe.delete(*stale)
                pipe.delete(self._stats_key)
                for record in records:
                    keys = self._keys_for(record.purpose, record.category, record.path)
                    pipe.set(keys[0], json.dumps(record.list_view()))
                    score = time_score(record.uploaded_at)
                    for order in keys[1:5] + self._status_keys(record.purpose, record.category, record.status):
                        pipe.zadd(order, {record.path: score})
                    pipe.zadd(self._hash_key(record.purpose, record.hash), {record.path: score})
                    group = f"{record.purpose.value}:{record.category.value}"
                    counters[f"{group}:count"] = counters.get(f"{group}:count", 0) + 1
                    counters[f"{group}:size"] = counters.get(f"{group}:size", 0) + record.size
                if counters:
                    pipe.hset(self._stats_key, mapping=counters)
                await pipe.execute()
        return len(records)


def build_stats(counters: dict[str, str], only: Purpose | None = None) -> dict[str, Any]:
    """Counters ``<purpose>:<category>:count|size`` → the contract's nested shape.

    Both purposes are always present (zero when empty) so clients can index them;
    categories appear once they hold a file. With ``only`` (a purpose-bound API key) the
    other purpose counts as empty: zeroed, and left out of the totals and categories."""
    by_purpose: dict[str, Any] = {
        p.value: {"count": 0, "size": 0, "by_category": {}} for p in Purpose
    }
    by_category: dict[str, dict[str, int]] = {}
    for field, raw in sorted(counters.items()):
        purpose, category, kind = field.split(":")
        value = int(raw)
        if purpose not in by_purpose or (only is not None and purpose != only.value) or (
                kind == "count" and value == 0):
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
