"""The file manifest (the truth, stored beside each object) and the views the API returns."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from service.domain.categories import Category, Purpose

MANIFEST_VERSION = 1


class Status(StrEnum):
    """Processing status: ``pending → processing → done | failed`` (failed carries an error)."""

    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds: sortable and lossless for index ordering."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def time_score(uploaded_at: str) -> int:
    """Microseconds since the epoch: the index score, derived from the manifest alone."""
    moment = datetime.fromisoformat(uploaded_at)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class FileRecord(BaseModel):
    """Everything known about one stored file. System fields live at the top; the
    client's own ``metadata`` is kept apart so it can never replace them."""

    manifest_version: int = MANIFEST_VERSION
    path: str
    filename: str = Field(description="saved name, unique in its bucket")
    original_filename: str
    purpose: Purpose
    category: Category
    size: int
    hash: str = Field(description="SHA-256 of the content, hex")
    content_type: str
    uploaded_at: str
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: Status = Status.pending
    error: str | None = Field(None, description="why processing failed")
    summary: dict[str, Any] | None = Field(None, description="what the ingestion parser found")
    processed_at: str | None = None
    duplicate_of: str | None = Field(None, description="an earlier file of the same purpose with this content")

    def upload_view(self) -> dict[str, Any]:
        """The ``file`` object of an upload response."""
        return self.model_dump(
            include={
                "path", "filename", "original_filename", "category", "purpose",
                "size", "hash", "uploaded_at", "description", "content_type", "metadata",
            },
            mode="json",
        )

    def list_view(self) -> dict[str, Any]:
        """One entry of a list page."""
        return self.model_dump(
            include={
                "path", "filename", "original_filename", "category", "purpose",
                "size", "hash", "uploaded_at", "description", "content_type", "status", "error",
            },
            mode="json",
        )

    def metadata_view(self) -> dict[str, Any]:
        """``?metadata=true``: the contract names the original ``filename`` and ``saved_as``."""
        return {
            "filename": self.original_filename,
            "saved_as": self.filename,
            "path": self.path,
            "category": self.category.value,
            "purpose": self.purpose.value,
            "size": self.size,
            "hash": self.hash,
            "content_type": self.content_type,
            "uploaded_at": self.uploaded_at,
            "description": self.description,
            "metadata": self.metadata,
            "status": self.status.value,
            "error": self.error,
            "summary": self.summary,
            "processed_at": self.processed_at,
            "duplicate": self.duplicate_of is not None,
            "duplicate_of": self.duplicate_of,
        }
