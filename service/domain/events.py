"""Typed events: what handlers receive, what the ``depot:events`` stream and webhooks carry.

Each type is a pydantic model whose JSON schema is part of the contract (checked against
``docs/events.schema.json`` by the tests, so a change to a field is a deliberate one).
Fields are only ever added, never renamed or retyped."""

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


class TrainingReady(BaseEvent):
    type: Literal["training.ready"] = "training.ready"
    category: str
    files: int = Field(description="training files of this category since the last trigger")
    bytes: int = Field(description="their total size")
    sequence: int = Field(description="1 for the first trigger of this category, then 2, ...")
    threshold_files: int = Field(description="the count threshold (0 = none)")
    threshold_bytes: int = Field(description="the byte threshold (0 = none)")


EVENT_TYPES: dict[str, type[BaseEvent]] = {
    m.model_fields["type"].default: m
    for m in (FileUploaded, FileProcessed, FileFailed, FileDeleted, ModelImported, TrainingReady)
}
Event = Annotated[
    FileUploaded | FileProcessed | FileFailed | FileDeleted | ModelImported | TrainingReady,
    Field(discriminator="type"),
]
_EVENT = TypeAdapter(Event)


def parse_event(data: dict[str, Any] | str | bytes) -> BaseEvent:
    """An event from its JSON (or dict); raises ``pydantic.ValidationError`` for unknown types."""
    if isinstance(data, (str, bytes)):
        return _EVENT.validate_json(data)
    return _EVENT.validate_python(data)


def event_schemas() -> dict[str, Any]:
    """The JSON schema of every event type, by type name."""
    return {name: model.model_json_schema() for name, model in EVENT_TYPES.items()}
