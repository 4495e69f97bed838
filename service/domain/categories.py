"""Purposes, categories and the extension allow-list of the data-upload contract."""

import mimetypes
from enum import StrEnum

from service.errors import InvalidInput


class Purpose(StrEnum):
    training = "training"
    ingestion = "ingestion"


class Category(StrEnum):
    data = "data"
    text = "text"
    audio = "audio"
    archive = "archive"
    image = "image"


DEFAULT_PURPOSE = Purpose.ingestion

EXTENSIONS: dict[str, Category] = {
    ".json": Category.data,
    ".yaml": Category.data,
    ".yml": Category.data,
    ".csv": Category.data,
    ".xml": Category.data,
    ".jsonl": Category.data,
    ".ndjson": Category.data,
    ".parquet": Category.data,
    ".arrow": Category.data,
    ".feather": Category.data,
    ".tsv": Category.data,
    ".txt": Category.text,
    ".md": Category.text,
    ".log": Category.text,
    ".wav": Category.audio,
    ".mp3": Category.audio,
    ".ogg": Category.audio,
    ".flac": Category.audio,
    ".zip": Category.archive,
    ".tar": Category.archive,
    ".gz": Category.archive,
    ".tgz": Category.archive,
    ".png": Category.image,
    ".jpg": Category.image,
    ".jpeg": Category.image,
    ".webp": Category.image,
}

_CONTENT_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".md": "text/markdown",
    ".log": "text/plain",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".tgz": "application/gzip",
    ".gz": "application/gzip",
    ".jsonl": "application/jsonl",
    ".ndjson": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
    ".arrow": "application/vnd.apache.arrow.file",
    ".feather": "application/vnd.apache.arrow.file",
    ".tsv": "text/tab-separated-values",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def extension_of(filename: str) -> str:
    """The lower-case last suffix, with its dot ('' when there is none)."""
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 else ""


def category_for(filename: str, requested: str | None = None) -> Category:
    """The category of a file: from its extension, and an explicit one must agree."""
    ext = extension_of(filename)
    detected = EXTENSIONS.get(ext)
    if detected is None:
        allowed = ", ".join(sorted(EXTENSIONS))
        raise InvalidInput(f"file type {ext or '(none)'!r} is not allowed; allowed: {allowed}")
    if requested:
        try:
            wanted = Category(requested)
        except ValueError:
            raise InvalidInput(
                f"unknown category {requested!r}; one of: {', '.join(c.value for c in Category)}"
            ) from None
        if wanted is not detected:
            raise InvalidInput(f"a {ext} file is {detected.value!r}, not {wanted.value!r}")
    return detected


def parse_purpose(value: str | None) -> Purpose:
    """The purpose named by a form field; the default when absent or empty."""
    if not value:
        return DEFAULT_PURPOSE
    try:
        return Purpose(value)
    except ValueError:
        raise InvalidInput(
            f"unknown purpose {value!r}; one of: {', '.join(p.value for p in Purpose)}"
        ) from None


def content_type_for(filename: str) -> str:
    """A Content-Type for downloads, from the extension."""
    ext = extension_of(filename)
    return _CONTENT_TYPES.get(ext) or mimetypes.types_map.get(ext) or "application/octet-stream"
