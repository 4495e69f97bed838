"""``/api/v1/events``: the event stream as CloudEvents, in pages (resumable by id) or live over
Server-Sent Events (resumable with ``Last-Event-ID``).

Both need the ``read`` scope; a purpose-bound key sees only its purpose's events (model events
have no purpose and are not shown to it)."""

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, Parameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pydantic import BaseModel, Field

from service.api.live import LiveStreams, Slot
from service.api.schemas import ErrorBody
from service.domain.apikeys import ApiKey
from service.domain.categories import Purpose
from service.domain.events import EVENT_TYPES, ce_type, event_schemas, short_type
from service.errors import DependencyDown, InvalidInput
from service.storage.events import Emitter, EventLog, Filter, check_stream_id, type_filter

READ = {"scope": "read", "purpose_checked": True}  # the guard checks ?purpose= against a bound key
RETRY_MS = 3000  # how long an SSE client waits before it reconnects
TypeParam = Annotated[list[str] | None, QueryParameter(name="type", description="keep only these event types "
                      "(repeatable; io.depot.file.processed or file.processed)")]
PurposeParam = Annotated[Purpose | None, Parameter(description="keep only events of files of this purpose")]


class EventPage(BaseModel):
    success: bool = True
    events: list[dict[str, Any]] = Field(description="CloudEvents 1.0 (structured JSON), oldest first")
    next: str | None = Field(None, description="pass as ?after= for the next page (null: no events yet)")


class EventSchemas(BaseModel):
    success: bool = True
    schemas: dict[str, Any] = Field(description="JSON schema of each event's CloudEvent, by CloudEvent type")


def scoped_filter(request: Request, types: list[str] | None, purpose: Purpose | None) -> Filter | None:
    """The caller's filter: unknown types are a 400; a purpose-bound key is held to its purpose."""
    names = [name for value in types or [] for name in value.split(",") if name.strip()]
    unknown = [name for name in names if short_type(name.strip()) not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"unknown event type {unknown[0]!r}: expected one of "
                           f"{', '.join(ce_type(t) for t in EVENT_TYPES)}")
    key = request.scope.get("auth")
    if isinstance(key, ApiKey) and key.purpose is not None:
        purpose = key.purpose
    return type_filter([n.strip() for n in names] or None, purpose.value if purpose else None)


class EventsController(Controller):
    path = "/api/v1/events"
    tags = ["events"]

    @get(
        "/", operation_id="listEvents", opt=READ,
        responses={400: ResponseSpec(ErrorBody, description="invalid ?after id or type"),
                   503: ResponseSpec(ErrorBody, description="Redis unavailable")},
    )
    async def list_events(
        self,
        request: Request,
        emitter: Emitter,
        types: TypeParam = None,
        purpose: PurposeParam = None,
        after: Annotated[str | None, Parameter(description="return events after this id (exclusive)")] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="entries read (filters may keep fewer)")] = 100,
    ) -> EventPage:
        """CloudEvents (``io.depot.file.uploaded``, ``.file.processing``, ``.file.processed``, ``.file.failed``,
        ``.file.deleted``, ``.model.imported``, ``.model.failed``, ``.training.ready``) after ``after``."""
        keep = scoped_filter(request, types, purpose)
        events, last = await emitter.log.page(after, limit, keep)
        return EventPage(events=events, next=last)

    @get(
        "/stream", operation_id="streamEvents", opt=READ, media_type="text/event-stream",
        responses={400: ResponseSpec(ErrorBody, description="invalid Last-Event-ID, ?after or type"),
                   429: ResponseSpec(ErrorBody, description="too many open streams for this key or server"),
                   503: ResponseSpec(ErrorBody, description="Redis unavailable")},
    )
    async def stream(
        self,
        request: Request,
        live: LiveStreams,
        types: TypeParam = None,
        purpose: PurposeParam = None,
        after: Annotated[str | None, Parameter(description="start after this id (default: now)")] = None,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID", description="resume after "
                                                             "this id (sent by SSE clients on reconnect)")] = None,
    ) -> ServerSentEvent:
        """Live CloudEvents as Server-Sent Events (``id:`` is the event id, ``data:`` the CloudEvent),
        with a keep-alive comment on quiet periods; ends when the server shuts down."""
        keep = scoped_filter(request, types, purpose)
        start = last_event_id or after
        if start:
            check_stream_id(start)
        key = request.scope.get("auth")
        slot = live.acquire(key.ident if isinstance(key, ApiKey) else None)
        try:
            start = start or await live.log.tip()  # also a Redis check: 503 if it is down
        except BaseException:
            slot.release()
            raise
        return ServerSentEvent(messages(live, live.log, start, keep, slot), headers={"Cache-Control": "no-store",
                                                                                     "X-Accel-Buffering": "no"})

    @get("/schemas", operation_id="eventSchemas", opt=READ)
    async def schemas(self) -> EventSchemas:
        """The JSON schema of every event type's CloudEvent."""
        return EventSchemas(schemas=event_schemas())


async def messages(live: LiveStreams, log: EventLog, start: str, keep: Filter | None,
                   slot: Slot) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(comment="depot events", retry=RETRY_MS)
        async with aclosing(log.follow(start, live.stop, live.heartbeat)) as events:
            async for event in events:
                if event is None:
                    yield ServerSentEventMessage(comment="keep-alive")
                elif keep is None or keep(event):
                    yield ServerSentEventMessage(data=json.dumps(event, separators=(",", ":")), id=event["id"])
    except DependencyDown:
        yield ServerSentEventMessage(comment="Redis unavailable: reconnect with Last-Event-ID")
    finally:
        slot.release()
