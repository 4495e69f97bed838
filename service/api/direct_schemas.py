"""Request and response models of the direct-transfer routes (``controllers/direct.py``)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import FileView


class DirectCapabilities(BaseModel):
    """What a client needs to know before it tries a direct upload."""

    success: bool = True
    enabled: bool = Field(description="DEPOT_DIRECT_TRANSFERS: presigned uploads and redirect downloads offered")
    max_size: int = Field(description="largest file accepted, bytes")
    part_size: int = Field(description="part size of a direct upload (larger for files past 10 000 parts)")
    max_urls: int = Field(description="part URLs one request may ask for")
    url_expiry: int = Field(description="seconds a presigned URL stays valid")


class DirectCreate(BaseModel):
    """A direct upload's declaration: the same fields as POST /upload's form, plus size and SHA-256."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(examples=["voice_sample.wav"])
    size: int = Field(ge=1, description="bytes; over DEPOT_MAX_UPLOAD_SIZE is a 413")
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="the whole file's SHA-256 (hex), checked by a worker before the file becomes visible; "
        "may instead be given at /complete (so a client can hash while it sends)",
    )
    purpose: str | None = Field(None, examples=["training"])
    category: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | str | None = Field(None, description="a JSON object (or its text)")


class PartNumbers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[int] = Field(min_length=1, description="part numbers (1 to parts), at most max_urls at once")


class PartUrl(BaseModel):
    number: int
    size: int = Field(description="bytes this part must hold (every part is part_size but the last)")
    url: str = Field(description="presigned S3 PUT; the answer's ETag header goes into /complete")


class PartUrls(BaseModel):
    success: bool = True
    expires: str = Field(description="when these URLs stop working (ISO 8601)")
    urls: list[PartUrl]


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: int
    etag: str = Field(min_length=1, max_length=200)


class DirectComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: list[CompletedPart] = Field(min_length=1)
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-fA-F]{64}$", description="required here if not declared at creation (then equal)"
    )


class DirectStatus(BaseModel):
    """Where a direct upload stands; ``file`` (POST /upload's answer) once stored."""

    success: bool = True
    id: str
    state: str = Field(description="uploading, verifying, stored or failed")
    size: int
    sha256: str | None = Field(None, description="declared SHA-256 (null until declared)")
    part_size: int
    parts: int
    expires: str = Field(description="when the upload (or this record, once finished) expires (ISO 8601)")
    error: str | None = Field(None, description="why it failed")
    file: FileView | None = None
