"""Response models: they make ``/schema`` a truthful contract (shapes of data-upload-api.md)."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    success: bool = False
    error: str


class ListEntry(BaseModel):
    """One file as list pages show it."""

    path: str = Field(examples=["training/data/training_data_20260112_234500_1a2b3c4d.json"])
    filename: str
    original_filename: str | None = None
    category: str
    purpose: str
    size: int
    hash: str
    uploaded_at: str
    description: str | None = None
    content_type: str | None = None


class FileView(ListEntry):
    """A just-uploaded file, with the client's metadata."""

    metadata: dict[str, Any] = Field(default_factory=dict)


class UploadResponse(BaseModel):
    success: bool = True
    message: str = "File uploaded successfully"
    file: FileView


class FileList(BaseModel):
    success: bool = True
    total: int
    limit: int
    offset: int
    files: list[ListEntry]


class FileMetadata(BaseModel):
    filename: str
    saved_as: str
    path: str
    category: str
    purpose: str
    size: int
    hash: str
    content_type: str
    uploaded_at: str
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class MetadataResponse(BaseModel):
    success: bool = True
    metadata: FileMetadata


class Message(BaseModel):
    success: bool = True
    message: str


class CountSize(BaseModel):
    count: int
    size: int


class PurposeStats(CountSize):
    by_category: dict[str, CountSize]


class Stats(BaseModel):
    total_files: int
    total_size: int
    by_purpose: dict[str, PurposeStats]
    by_category: dict[str, CountSize]


class StatsResponse(BaseModel):
    success: bool = True
    stats: Stats


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
