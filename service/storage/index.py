"""The Redis index behind list pages and stats: O(log N + page) and O(1), whatever N is.

S3 manifests are the truth; this index is derived from them and ``rebuild`` recreates it
exactly. It keeps only what list pages, filters, stats and the duplicate lookup need, packed
small (``index_codec``; under 500 B a file instead of 2.1–2.5 KB: bench/results.md). Every write
runs as one Lua script (``index_lua``), so each is atomic and idempotent: a retried add or a
double delete never skews the counters, and each checks the file's tombstone."""

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis.asyncio as redis
from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError

from service.domain.categories import Category, Purpose
from service.domain.records import FileRecord, Status, format_time, time_score
from service.errors import Conflict
from service.storage import index_lua as lua
from service.storage.index_codec import (
    CATEGORIES,
    PURPOSES,
    STATUSES,
    entry_args,
    field_of,
    field_of_path,
    group_of,
    path_of,
    unpack,
)
from service.storage.redis import open_redis, translate_errors
from service.storage.tombstones import CLAIM_LUA, DELETE_LEASE_MS, TOMBSTONE_TTL, Claim, Tombstones, file_tombstone


@dataclass(frozen=True)
class StreamEntry:
    """An entry for a Redis stream (an event), appended in the same script as the write it records."""

    key: str
    max_len: int
    type: str
    data: str


BUILD_LEASE = 600  # seconds a rebuild may go without adding a batch before writes stop feeding it


class Index:
    """A sorted set of packed entries per status, purpose and category, small hashes from path to score, counters."""

    def __init__(self, client: redis.Redis, prefix: str = "depot:") -> None:
        self.client = client
        self.prefix = prefix

        def script(body: str, head: str = "") -> Any:
            return client.register_script(head + lua.COMMON + body)

        self._add, self._rebuild_add, self._status = script(lua.ADD), script(lua.REBUILD_ADD), script(lua.STATUS)
        self._claim_delete = script(lua.CLAIM_DELETE, CLAIM_LUA)
        self._page, self._get, self._first = script(lua.PAGE), script(lua.GET), script(lua.FIRST)
        self._stats, self._live = script(lua.STATS), script(lua.LIVE)
        self._begin, self._switch = script(lua.BEGIN), script(lua.SWITCH)
        self.tombstones = Tombstones(client)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, prefix: str = "depot:") -> AsyncIterator["Index"]:
        async with open_redis(url) as client:
            yield cls(client, prefix)

    def gone_key(self, path: str) -> str:
        """The tombstone of a deleted file (tombstones.py)."""
        return file_tombstone(self.prefix, path)

    async def _raw(self, script: Any, args: list[Any]) -> Any:
        """Run a read script whose answer holds packed (binary) entries: never decoded."""
        command = ("EVALSHA", script.sha, 0, *args)
        try:
            return await self.client.execute_command(*command, **{NEVER_DECODE: True})
        except NoScriptError:
            await self.client.script_load(script.script)
            return await self.client.execute_command(*command, **{NEVER_DECODE: True})

    # writes -----------------------------------------------------------------------
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
        args = [*entry_args(self.prefix, record), "1" if reject_duplicate else "0"]
        keys = [self.gone_key(record.path)]
        if event is not None:
            keys.append(event.key)
            args += [event.max_len, event.type, event.data]
        async with translate_errors("index file"):
            added, first, event_id = await self._add(keys=keys, args=args)
        first = path_of(first) if first else None
        if added == -1:
            raise Conflict(f"this content is already stored as {first}")
        if added == -2:
            raise Conflict(f"{record.path} was deleted while it was being stored")
        return added == 1, first if first != record.path else None, event_id or None

    async def set_status(self, record: FileRecord) -> bool:
        """Move an indexed file to ``record.status`` (its entry to that status's set, atomically)."""
        async with translate_errors("index status"):
            return bool(await self._status(args=entry_args(self.prefix, record)))

    async def claim_delete(self, purpose: Purpose, category: Category, path: str) -> Claim:
        """Claim the deletion of a file (its tombstone) and unindex it, atomically."""
        args = [self.prefix, field_of_path(path), group_of(purpose, category), TOMBSTONE_TTL, DELETE_LEASE_MS]
        async with translate_errors("unindex file"):
            return Claim.of(await self._claim_delete(keys=[self.gone_key(path)], args=args))

    # reads ------------------------------------------------------------------------
    async def first_with_hash(self, purpose: Purpose, digest: str) -> str | None:
        """The oldest stored path of ``purpose`` with this SHA-256, if any."""
        async with translate_errors("read index"):
            found = await self._first(args=[self.prefix, f"{PURPOSES.index(purpose)}", bytes.fromhex(digest)])
        return path_of(found) if found else None

    async def built(self) -> bool:
        """False when this Redis never held an index built from S3: it lost its data, or the index
        predates the generation layout (``FileStore.index_lost`` tells the two from a new store)."""
        async with translate_errors("check the index"):
            return bool(await self.client.exists(f"{self.prefix}built"))

    async def rebuilding(self) -> bool:
        """True while a rebuild holds its lease (``depot reindex`` or a queued reindex job)."""
        async with translate_errors("check the index"):
            return bool(await self.client.exists(f"{self.prefix}next"))

    async def mark_built(self) -> None:
        async with translate_errors("mark the index"):
            await self.client.set(f"{self.prefix}built", "1")

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
        """Paths still ``pending`` that were uploaded before ``moment``, oldest first within each
        purpose and category, paged."""
        top, pending = time_score(format_time(moment)), STATUSES.index(Status.pending)
        for p, purpose in enumerate(PURPOSES):
            for c, category in enumerate(CATEGORIES):
                offset = 0
                while True:
                    async with translate_errors("list pending files"):
                        order = f"{await self._live(args=[self.prefix])}o:{pending}{p}{c}"
                        members = await self.client.execute_command(
                            "ZRANGEBYSCORE", order, "-inf", top, "LIMIT", offset, page, **{NEVER_DECODE: True}
                        )
                    for member in members:
                        yield path_of(field_of(purpose, category, member.partition(b"\0")[0].decode()))
                    if len(members) < page:
                        break
                    offset += page

    async def get(self, path: str) -> dict[str, Any] | None:
        """The list entry of one file, if indexed."""
        field = field_of_path(path)
        async with translate_errors("read index"):
            found = await self._raw(self._get, [self.prefix, field])
        return unpack(field[:2], *found) if found else None

    async def page(
        self,
        purpose: Purpose | None,
        category: Category | None,
        limit: int,
        offset: int,
        status: Status | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total, entries) of one page, newest first."""
        sets = [
            f"o:{s}{p}{c}"
            for s, three in enumerate(STATUSES)
            if status in (None, three)
            for p, one in enumerate(PURPOSES)
            if purpose in (None, one)
            for c, two in enumerate(CATEGORIES)
            if category in (None, two)
        ]
        async with translate_errors("list files"):
            answer = await self._raw(self._page, [self.prefix, limit, offset, *sets])
        entries = []
        for i in range(1, len(answer), 3):
            entries.append(unpack(answer[i].decode(), answer[i + 1], answer[i + 2]))
        return int(answer[0]), entries

    async def stats(self, only: Purpose | None = None) -> dict[str, Any]:
        """The nested counters of the contract's ``/stats`` (of one purpose only, if given)."""
        async with translate_errors("read stats"):
            flat = await self._stats(args=[self.prefix])
        return build_stats(dict(zip(flat[::2], flat[1::2], strict=True)), only)

    # rebuild ----------------------------------------------------------------------
    async def rebuild(self, records: Iterable[FileRecord] | AsyncIterable[FileRecord], batch: int = 500) -> int:
        """Build a new generation from ``records`` beside the live one, then switch to it in
        one step; returns the files it holds. Meanwhile every write goes to both generations
        and a delete's tombstone keeps the file out of the new one (``index_lua``), so nothing
        written during the rebuild is lost or brought back. Memory: one batch."""
        async with translate_errors("rebuild index"):
            generation = str(await self.client.incr(f"{self.prefix}generations"))
            live = await self._begin(args=[self.prefix, generation, BUILD_LEASE])
            await self._clear(f"{self.prefix}ix", keep=(live, f"{self.prefix}ix{generation}:"))  # died rebuilds
            pending: list[FileRecord] = []
            async for record in _aiter(records):
                pending.append(record)
                if len(pending) >= batch:
                    await self._add_batch(generation, pending)
                    pending = []
            await self._add_batch(generation, pending)
            old = await self._switch(args=[self.prefix, generation])
            await self.client.set(f"{self.prefix}built", "1")
            await self._clear(old)
            for legacy in ("file:", "idx:", "hash:", "stats"):  # the layout before generations
                await self._clear(f"{self.prefix}{legacy}")
            flat = await self._stats(args=[self.prefix])
        counters = dict(zip(flat[::2], flat[1::2], strict=True))
        return sum(int(v) for k, v in counters.items() if k.endswith(":count"))

    async def _add_batch(self, generation: str, records: list[FileRecord]) -> None:
        if not records:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for record in records:
                args = [*entry_args(self.prefix, record), generation, BUILD_LEASE]
                await self._rebuild_add(keys=[self.gone_key(record.path)], args=args, client=pipe)
            await pipe.execute()

    async def _clear(self, base: str, keep: tuple[str, ...] = ()) -> None:
        """Remove the keys under ``base`` (an unreachable generation), but ``keep``, a page at a time."""
        batch: list[str] = []
        async for key in self.client.scan_iter(f"{base}*", count=1000):
            if key.startswith(keep):
                continue
            batch.append(key)
            if len(batch) >= 1000:
                await self.client.unlink(*batch)
                batch = []
        if batch:
            await self.client.unlink(*batch)


async def _aiter(records: Iterable[FileRecord] | AsyncIterable[FileRecord]) -> AsyncIterator[FileRecord]:
    if isinstance(records, AsyncIterable):
        async for record in records:
            yield record
    else:
        for record in records:
            yield record


def build_stats(counters: dict[str, str], only: Purpose | None = None) -> dict[str, Any]:
    """Counters ``<purpose>:<category>:count|size`` → the contract's nested shape.

    Both purposes are always present (zero when empty) so clients can index them;
    categories appear once they hold a file. With ``only`` (a purpose-bound API key) the
    other purpose counts as empty: zeroed, and left out of the totals and categories."""
    by_purpose: dict[str, Any] = {p.value: {"count": 0, "size": 0, "by_category": {}} for p in Purpose}
    by_category: dict[str, dict[str, int]] = {}
    for field, raw in sorted(counters.items()):
        purpose, category, kind = field.split(":")
        value = int(raw)
        if (
            purpose not in by_purpose
            or (only is not None and purpose != only.value)
            or (kind == "count" and value == 0)
        ):
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
