"""Response models: they make ``/schema`` a truthful contract (shapes of data-upload-api.md)."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    success: bool = False
    error: str


class FileBase(BaseModel):
    """The fields every view of a stored file shares."""

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


class ListEntry(FileBase):
    """One file as list pages show it."""

    status: str | None = Field(None, description="processing status: pending, processing, done or failed")
    error: str | None = Field(None, description="why processing failed")


class FileView(FileBase):
    """A just-uploaded file, with the client's metadata (the upload response's shape)."""

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
    status: str = "pending"
    error: str | None = None
    summary: dict[str, Any] | None = Field(None, description="what the ingestion parser found")
    processed_at: str | None = None
    duplicate: bool = False
    duplicate_of: str | None = None


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


class BatchItem(BaseModel):
    """One file of a batch upload: stored (``file``) or refused (``error``)."""

    success: bool
    filename: str | None = Field(None, description="the file name as sent")
    status: int = Field(description="the HTTP status this file alone would have got (201, 400, 409, 413, 503)")
    file: FileView | None = None
    error: str | None = None


class BatchUploadResponse(BaseModel):
    """Several ``file`` parts in one request: a result per file, in request order."""

    success: bool = Field(description="true when every file was stored")
    message: str
    uploaded: int
    failed: int
    files: list[BatchItem]
    error: str | None = Field(None, description="set when no file was stored")
