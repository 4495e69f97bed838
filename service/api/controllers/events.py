"""``GET /api/v1/events``: pages of the event stream, oldest first, resumable by id."""

from typing import Annotated, Any

from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from pydantic import BaseModel, Field

from service.api.schemas import ErrorBody
from service.domain.events import event_schemas
from service.storage.events import Emitter


class EventPage(BaseModel):
    success: bool = True
    events: list[dict[str, Any]] = Field(description="events, oldest first; each has id, type and time")
    next: str | None = Field(None, description="pass as ?after= for the next page (null: no events yet)")


class EventSchemas(BaseModel):
    success: bool = True
    schemas: dict[str, Any]


class EventsController(Controller):
    path = "/api/v1/events"
    tags = ["events"]

    @get(
        "/",
        operation_id="listEvents",
        responses={400: ResponseSpec(ErrorBody, description="invalid ?after id"),
                   503: ResponseSpec(ErrorBody, description="Redis unavailable")},
    )
    async def list_events(
        self,
        emitter: Emitter,
        after: Annotated[str | None, Parameter(description="return events after this id (exclusive)")] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="page size")] = 100,
    ) -> EventPage:
        """Events (``file.uploaded``, ``file.processed``, ``file.failed``, ``file.deleted``,
        ``model.imported``, ``training.ready``) after ``after``, oldest first."""
        events = await emitter.log.page(after, limit)
        return EventPage(events=events, next=events[-1]["id"] if events else after)

    @get("/schemas", operation_id="eventSchemas")
    async def schemas(self) -> EventSchemas:
        """The JSON schema of every event type."""
        return EventSchemas(schemas=event_schemas())
