"""Shared by the store and the writer: limits, botocore error translation, result types."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from service.errors import Conflict, DependencyDown, DepotError, NotFound

MAX_PARTS = 10_000
COPY_LIMIT = 5 * 1024**3  # single CopyObject limit; larger copies use multipart copy
READ_CHUNK = 1024 * 1024

_MISSING = {"NoSuchKey", "NotFound", "404", "NoSuchUpload"}
_CONFLICT = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


@asynccontextmanager
async def translate_errors(action: str) -> AsyncIterator[None]:
    """Turn botocore errors into ``DepotError``s a handler can map to a status code."""
    try:
        yield
    except DepotError:
        raise
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _MISSING:
            raise NotFound(f"{action}: not found") from exc
        if code in _CONFLICT:
            raise Conflict(f"{action}: already exists") from exc
        if code == "NoSuchBucket":
            raise DependencyDown(f"{action}: bucket missing") from exc
        if status >= 500 or status == 0:
            raise DependencyDown(f"{action}: storage unavailable ({code})") from exc
        raise DepotError(f"{action}: storage refused the request ({code})") from exc
    except (BotoCoreError, OSError, asyncio.TimeoutError) as exc:
        raise DependencyDown(f"{action}: storage unreachable") from exc


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    tagged: bool = False  # the tags asked for at commit were written with the object


def _tagging(tags: dict[str, str] | None) -> dict[str, str]:
    """PutObject's ``Tagging`` argument (URL-encoded), or nothing."""
    return {"Tagging": urlencode(tags)} if tags else {}


@dataclass
class ObjectStream:
    """An open ranged read: ``chunks`` must be consumed or closed."""

    size: int
    start: int
    end: int
    chunks: AsyncIterator[bytes]
