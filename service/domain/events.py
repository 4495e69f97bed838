"""Typed events: what handlers receive, and their CloudEvents 1.0 form (structured JSON mode),
which is what the ``depot:events`` stream, ``GET /api/v1/events``, the SSE stream and webhooks carry.

Each type is a pydantic model; its fields (minus ``id``, ``type``, ``time``, which are envelope
attributes) are the CloudEvent's ``data``. The envelope schemas are part of the contract
(checked against ``docs/events.schema.json`` by the tests, so a change is a deliberate one).
Fields are only ever added, never renamed or retyped. Handlers see the short type name
(``file.uploaded``); the CloudEvent ``type`` is the reverse-DNS ``io.depot.file.uploaded``."""

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from service.domain.records import FileRecord, format_time, utc_now


def _now() -> str:
    return format_time(utc_now())


class BaseEvent(BaseModel):
    """Common envelope: ``id`` is the stream entry id, set once the event is stored."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, description="Redis stream id, e.g. 1767225600000-0")
    time: str = Field(default_factory=_now, description="when it happened, ISO 8601 UTC")

    @property
    def subject(self) -> str | None:
        """The CloudEvent ``subject``: the file path or model id the event is about."""
        return getattr(self, "path", None)


class FileEvent(BaseEvent):
    path: str
    purpose: str
    category: str
    filename: str = Field(description="the client's original file name")
    size: int
    hash: str

    @classmethod
    def of(cls, record: FileRecord, **extra: Any) -> "FileEvent":
        return cls(
            path=record.path, purpose=record.purpose.value, category=record.category.value,
            filename=record.original_filename, size=record.size, hash=record.hash, **extra,
        )


class FileUploaded(FileEvent):
    type: Literal["file.uploaded"] = "file.uploaded"
    description: str | None = None
    duplicate_of: str | None = None


class FileProcessed(FileEvent):
    type: Literal["file.processed"] = "file.processed"
    summary: dict[str, Any] = Field(description="what the parser found (per type, see README)")


class FileFailed(FileEvent):
    type: Literal["file.failed"] = "file.failed"
    error: str


class FileProcessing(FileEvent):
    type: Literal["file.processing"] = "file.processing"


class FileDeleted(BaseEvent):
    type: Literal["file.deleted"] = "file.deleted"
    path: str
    purpose: str
    category: str


class ModelImported(BaseEvent):
    type: Literal["model.imported"] = "model.imported"
    task_id: str
    source: str
    model_tag: str
    model_ids: list[str]
    resolved_commit: str | None = None

    @property
    def subject(self) -> str | None:
        return self.model_ids[0] if self.model_ids else self.model_tag


class ModelFailed(BaseEvent):
    type: Literal["model.failed"] = "model.failed"
    task_id: str
    source: str
    model_tag: str
    error: str

    @property
    def subject(self) -> str | None:
        return self.model_tag


class TrainingReady(BaseEvent):
    type: Literal["training.ready"] = "training.ready"
    category: str
    files: int = Field(description="training files of this category since the last trigger")
    bytes: int = Field(description="their total size")
    sequence: int = Field(description="1 for the first trigger of this category, then 2, ...")
    threshold_files: int = Field(description="the count threshold (0 = none)")
    threshold_bytes: int = Field(description="the byte threshold (0 = none)")

    @property
    def subject(self) -> str | None:
        return self.category


EVENT_TYPES: dict[str, type[BaseEvent]] = {
    m.model_fields["type"].default: m
    for m in (FileUploaded, FileProcessing, FileProcessed, FileFailed, FileDeleted, ModelImported, ModelFailed,
              TrainingReady)
}
Event = Annotated[
    FileUploaded | FileProcessing | FileProcessed | FileFailed | FileDeleted | ModelImported | ModelFailed
    | TrainingReady,
    Field(discriminator="type"),
]
_EVENT = TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str | bytes) -> BaseEvent:
    """A typed event from its flat JSON (or dict); raises ``pydantic.ValidationError`` for unknown types."""
    if isinstance(data, (str, bytes)):
        return _EVENT.validate_json(data)
    return _EVENT.validate_python(data)


TYPE_PREFIX = "io.depot."
SPECVERSION = "1.0"
ENVELOPE = ("id", "type", "time")  # typed-event fields that are CloudEvent attributes, not data


def ce_type(name: str) -> str:
    """``file.uploaded`` -> ``io.depot.file.uploaded`` (a full name is returned as is)."""
    return name if name.startswith(TYPE_PREFIX) else TYPE_PREFIX + name


def short_type(name: str) -> str:
    return name.removeprefix(TYPE_PREFIX)


def to_cloudevent(event: BaseEvent, source: str) -> dict[str, Any]:
    """The structured-mode CloudEvent of a typed event (no ``id`` until it is stored)."""
    envelope = {"specversion": SPECVERSION, "id": event.id, "source": source, "type": ce_type(event.type),
                "subject": event.subject, "time": event.time, "datacontenttype": "application/json",
                "data": event.model_dump(mode="json", exclude=set(ENVELOPE))}
    return {k: v for k, v in envelope.items() if v is not None}


def from_cloudevent(envelope: dict[str, Any] | str | bytes) -> BaseEvent:
    """The typed event of a CloudEvent; raises ``pydantic.ValidationError`` for unknown types."""
    if isinstance(envelope, (str, bytes)):
        envelope = json.loads(envelope)
    return parse_event({**envelope.get("data", {}), "id": envelope.get("id"),
                        "type": short_type(str(envelope.get("type", ""))), "time": envelope.get("time")})


def event_purpose(envelope: dict[str, Any]) -> str | None:
    """The purpose a CloudEvent belongs to (``None``: not a file event, e.g. models)."""
    if envelope.get("type") == ce_type("training.ready"):
        return "training"
    return (envelope.get("data") or {}).get("purpose")


def _data_schema(model: type[BaseEvent]) -> dict[str, Any]:
    schema = model.model_json_schema()
    for name in ENVELOPE:
        schema["properties"].pop(name, None)
    schema["required"] = [name for name in schema.get("required", []) if name not in ENVELOPE]
    return schema


def event_schemas() -> dict[str, Any]:
    """The JSON schema of every event's CloudEvent (structured JSON mode), by CloudEvent type."""
    schemas = {}
    for name, model in EVENT_TYPES.items():
        full = ce_type(name)
        schemas[full] = {
            "title": full, "type": "object",
            "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"],
            "properties": {
                "specversion": {"const": SPECVERSION},
                "id": {"type": "string", "description": "Redis stream id, e.g. 1767225600000-0"},
                "source": {"type": "string", "format": "uri-reference",
                           "description": "DEPOT_EVENT_SOURCE (default: DEPOT_PUBLIC_URL)"},
                "type": {"const": full},
                "subject": {"type": "string", "description": "the file path, model id or category"},
                "time": {"type": "string", "format": "date-time"},
                "datacontenttype": {"const": "application/json"},
                "data": _data_schema(model),
            },
        }
    return schemas
