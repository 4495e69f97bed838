"""The event log (a Redis Stream, ``<redis_prefix>events``) and the emitter that feeds it.

Appending is one XADD, capped at about ``events_max_len`` entries; everything slow
(handlers, webhook POSTs) runs later in arq jobs, so emitting never blocks an upload.
The stream id is the event id: webhooks and handlers see the same one."""

import json
import re
from typing import Any

import redis.asyncio as redis

from service.domain.events import BaseEvent, parse_event
from service.domain.jobs import DISPATCH_EVENT, PROCESS_FILE
from service.errors import InvalidInput
from service.storage.index import StreamEntry
from service.storage.queue import JobQueue
from service.storage.redis import translate_errors

STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")  # fullmatch, ASCII digits only


def check_stream_id(value: str) -> str:
    if not STREAM_ID.fullmatch(value):
        raise InvalidInput(f"invalid event id {value!r}: expected <milliseconds>-<sequence>")
    return value


class EventLog:
    def __init__(self, client: redis.Redis, prefix: str, max_len: int) -> None:
        self.client = client
        self.key = f"{prefix}events"
        self.max_len = max_len

    def entry(self, event: BaseEvent) -> StreamEntry:
        """The stream entry of an event, for a script that appends it with another write."""
        return StreamEntry(self.key, self.max_len, event.type, event.model_dump_json(exclude={"id"}))

    async def append(self, event: BaseEvent) -> BaseEvent:
        """Store an event; returns it with its ``id``."""
        entry = self.entry(event)
        async with translate_errors("record event"):
            event_id = await self.client.xadd(
                self.key, {"type": entry.type, "data": entry.data}, maxlen=self.max_len, approximate=True
            )
        return event.model_copy(update={"id": event_id})

    async def page(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` events after ``after`` (exclusive), oldest first."""
        start = f"({check_stream_id(after)}" if after else "-"
        async with translate_errors("read events"):
            entries = await self.client.xrange(self.key, min=start, max="+", count=limit)
        return [_decode(event_id, fields) for event_id, fields in entries]

    async def get(self, event_id: str) -> BaseEvent | None:
        async with translate_errors("read event"):
            entries = await self.client.xrange(self.key, min=event_id, max=event_id, count=1)
        return parse_event(_decode(*entries[0])) if entries else None


def _decode(event_id: str, fields: dict[str, str]) -> dict[str, Any]:
    return {"id": event_id, **json.loads(fields["data"])}


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
