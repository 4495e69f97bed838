"""The index's compact entries: what a list page shows, packed small, nothing else.

A file's member in its status+purpose+category sorted set is ``<saved name> NUL <msgpack>`` of
``[status, size, raw SHA-256, original name, description, error, content type, upload time]``:
the first three at fixed places for the Lua scripts (``index_lua``); the content type and upload
time only when they differ from what the name and the score give (they never do for files Depot
stored). Status, purpose and category are also the set's; the score is the upload time.
Everything else (user metadata, the parser's summary) stays in the manifest in S3."""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgpack

from service.domain.categories import Category, Purpose, content_type_for, extension_of
from service.domain.naming import file_path, parse_file_path
from service.domain.records import FileRecord, Status, time_score

PURPOSES, CATEGORIES, STATUSES = list(Purpose), list(Category), list(Status)


def field_of(purpose: Purpose, category: Category, name: str) -> str:
    return f"{PURPOSES.index(purpose)}{CATEGORIES.index(category)}{name}"


def field_of_path(path: str) -> str:
    return field_of(*parse_file_path(path))


def path_of(field: str) -> str:
    return file_path(PURPOSES[int(field[0])], CATEGORIES[int(field[1])], field[2:])


def group_of(purpose: Purpose, category: Category) -> str:
    """The stats counters' group of a file."""
    return f"{purpose.value}:{category.value}"


@lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def time_of(score: int) -> str:
    """``format_time`` of a score, fast (a list page formats 100): ``pack`` keeps any other form."""
    seconds, micros = divmod(score, 1_000_000)
    return f"{_second(seconds)}.{micros:06d}Z"


@lru_cache(maxsize=256)
def _type_of(extension: str) -> str:
    return content_type_for(f"x{extension}")


def type_of(name: str) -> str:
    """``content_type_for``, cached by extension."""
    return _type_of(extension_of(name))


def pack(record: FileRecord) -> bytes:
    score = time_score(record.uploaded_at)
    rest = msgpack.packb(
        [
            STATUSES.index(record.status),
            record.size,
            bytes.fromhex(record.hash),
            record.original_filename,
            record.description,
            record.error,
            None if record.content_type == type_of(record.original_filename) else record.content_type,
            None if time_of(score) == record.uploaded_at else record.uploaded_at,
        ],
        use_bin_type=False,  # Redis's Lua cmsgpack reads no bin type: the digest is a raw string
    )
    return record.filename.encode() + b"\0" + rest


def entry_args(prefix: str, record: FileRecord) -> list[Any]:
    """ARGV 1..8 of the scripts' ``put`` for ``record``."""
    return [
        prefix,
        field_of(record.purpose, record.category, record.filename),
        pack(record),
        time_score(record.uploaded_at),
        STATUSES.index(record.status),
        record.size,
        bytes.fromhex(record.hash),
        group_of(record.purpose, record.category),
    ]


def unpack(pc: str, member: bytes, score: bytes | int) -> dict[str, Any]:
    """The list view (``FileRecord.list_view``) of a packed member of set ``pc``."""
    name, _, rest = member.partition(b"\0")
    status, size, digest, *texts = msgpack.unpackb(rest, raw=True)
    original, description, error, content_type, uploaded_at = (t.decode() if t is not None else None for t in texts)
    purpose, category, filename = PURPOSES[int(pc[0])], CATEGORIES[int(pc[1])], name.decode()
    return {
        "path": file_path(purpose, category, filename),
        "filename": filename,
        "original_filename": original,
        "purpose": purpose.value,
        "category": category.value,
        "size": size,
        "hash": digest.hex(),
        "content_type": content_type or type_of(original),
        "uploaded_at": uploaded_at or time_of(int(score)),
        "description": description,
        "status": STATUSES[status].value,
        "error": error,
    }
