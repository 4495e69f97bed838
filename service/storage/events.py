"""The event log (a Redis Stream, ``<redis_prefix>events``) and the emitter that feeds it.

Each entry is a CloudEvent in structured JSON form without its ``id``: the stream id is the
event id, so handlers, webhooks, pages and the SSE stream all see the same one. Appending is
one XADD, capped at about ``events_max_len`` entries; everything slow (handlers, webhook
POSTs) runs later in arq jobs, so emitting never blocks an upload."""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as redis

from service.domain.events import BaseEvent, ce_type, event_purpose, from_cloudevent, to_cloudevent
from service.domain.jobs import DISPATCH_EVENT, PROCESS_FILE
from service.errors import InvalidInput
from service.storage.index import StreamEntry
from service.storage.queue import JobQueue
from service.storage.redis import open_redis, translate_errors
from service.storage.redis_target import RedisTarget

STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")  # fullmatch, ASCII digits only
Filter = Callable[[dict[str, Any]], bool]


def check_stream_id(value: str) -> str:
    if not STREAM_ID.fullmatch(value):
        raise InvalidInput(f"invalid event id {value!r}: expected <milliseconds>-<sequence>")
    return value


class EventLog:
    def __init__(self, client: redis.Redis, prefix: str, max_len: int, source: str) -> None:
        self.client = client
        self.key = f"{prefix}events"
        self.max_len = max_len
        self.source = source

    @classmethod
    @asynccontextmanager
    async def open_for_following(
        cls, url: "str | RedisTarget", prefix: str, max_len: int, source: str, streams: int, heartbeat: float
    ) -> AsyncIterator["EventLog"]:
        """A log on its own pool for ``follow``: each follower blocks one connection in XREAD, so
        followers never take the connections uploads need."""
        async with open_redis(
            url, socket_timeout=heartbeat + 10, max_connections=streams + 1, retry_on_timeout=False
        ) as client:
            yield cls(client, prefix, max_len, source)

    def entry(self, event: BaseEvent) -> StreamEntry:
        """The stream entry of an event, for a script that appends it with another write."""
        envelope = to_cloudevent(event.model_copy(update={"id": None}), self.source)
        return StreamEntry(self.key, self.max_len, envelope["type"], json.dumps(envelope, separators=(",", ":")))

    async def append(self, event: BaseEvent) -> BaseEvent:
        """Store an event; returns it with its ``id``."""
        entry = self.entry(event)
        async with translate_errors("record event"):
            event_id = await self.client.xadd(
                self.key, {"type": entry.type, "data": entry.data}, maxlen=self.max_len, approximate=True
            )
        return event.model_copy(update={"id": event_id})

    async def page(self, after: str | None, limit: int, keep: Filter | None = None) -> tuple[list[dict], str | None]:
        """CloudEvents among the ``limit`` entries after ``after`` (exclusive), oldest first, that
        ``keep`` accepts; and the id to continue after (the last entry read, kept or not)."""
        start = f"({check_stream_id(after)}" if after else "-"
        async with translate_errors("read events"):
            entries = await self.client.xrange(self.key, min=start, max="+", count=limit)
        events = [decode(event_id, fields, self.source) for event_id, fields in entries]
        return [e for e in events if keep is None or keep(e)], entries[-1][0] if entries else after

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """One stored CloudEvent by id."""
        async with translate_errors("read event"):
            entries = await self.client.xrange(self.key, min=event_id, max=event_id, count=1)
        return decode(*entries[0], self.source) if entries else None

    async def get_typed(self, event_id: str) -> BaseEvent | None:
        envelope = await self.get(event_id)
        return from_cloudevent(envelope) if envelope else None

    async def tip(self) -> str:
        """The id of the newest event ("0-0" if none): a start that skips the history."""
        async with translate_errors("read events"):
            newest = await self.client.xrevrange(self.key, count=1)
        return newest[0][0] if newest else "0-0"

    async def follow(
        self, after: str, stop: asyncio.Event, heartbeat: float, batch: int = 100
    ) -> AsyncIterator[dict[str, Any] | None]:
        """CloudEvents after ``after`` as they arrive (``None`` after ``heartbeat`` quiet seconds),
        until ``stop`` is set. Blocking reads use this log's client: give it its own pool."""
        check_stream_id(after)
        while not stop.is_set():
            read = asyncio.ensure_future(self.client.xread({self.key: after}, count=batch, block=int(heartbeat * 1000)))
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
                if not read.done():
                    read.cancel()
            if not read.done() or read.cancelled():
                return
            async with translate_errors("read events"):
                answer = read.result()
            entries = answer[0][1] if answer else []
            if not entries:
                yield None
            for event_id, fields in entries:
                after = event_id
                yield decode(event_id, fields, self.source)


def decode(event_id: str, fields: dict[str, str], source: str) -> dict[str, Any]:
    """A stored entry as a CloudEvent with its id (entries from before CloudEvents are wrapped)."""
    stored = json.loads(fields["data"])
    if "specversion" not in stored:  # a flat event written before the CloudEvents migration
        legacy = from_cloudevent({"type": stored.get("type", ""), "time": stored.get("time"), "data": stored})
        stored = to_cloudevent(legacy, source)
    return {"specversion": stored.pop("specversion"), "id": event_id, **stored}


def type_filter(types: list[str] | None, purpose: str | None) -> Filter | None:
    """A filter on CloudEvent type (short or full names) and purpose; ``None``: keep everything."""
    wanted = {ce_type(t) for t in types} if types else None
    if wanted is None and purpose is None:
        return None
    return lambda e: (wanted is None or e["type"] in wanted) and (purpose is None or event_purpose(e) == purpose)


class Emitter:
    """Records events and queues their delivery (handlers and webhooks) on arq."""

    def __init__(self, log: EventLog, queue: JobQueue) -> None:
        self.log = log
        self.queue = queue

    async def emit(self, event: BaseEvent) -> BaseEvent:
        stored = await self.log.append(event)
        await self.deliver(stored.id)
        return stored

    async def deliver(self, event_id: str) -> None:
        """Queue the handlers of one stored event (a deterministic job id: queued once)."""
        await self.queue.enqueue(DISPATCH_EVENT, event_id, job_id=f"event:{event_id}")

    async def process(self, path: str, uploaded_event: str | None) -> bool:
        """Queue the ingestion parse of a stored file, which first queues the delivery of its
        ``file.uploaded`` event: one job per upload instead of two (bench/results.md).
        False when that file's job is already queued (or its result still kept)."""
        return await self.queue.enqueue(PROCESS_FILE, path, uploaded_event, job_id=f"process:{path}")
