"""Shared by the store and the writer: limits, botocore error translation, result types."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from service.errors import Conflict, DependencyDown, DepotError, NotFound
from service.storage.objects._direct import S3Refused

MAX_PARTS = 10_000
COPY_LIMIT = 5 * 1024**3  # single CopyObject limit; larger copies use multipart copy

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
        raise _refusal(action, code, exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) from exc
    except S3Refused as exc:
        raise _refusal(action, exc.code, exc.status) from exc
    except (TimeoutError, BotoCoreError, OSError, aiohttp.ClientError) as exc:
        raise DependencyDown(f"{action}: storage unreachable") from exc


def _refusal(action: str, code: str, status: int) -> DepotError:
    """The ``DepotError`` for an S3 error answer."""
    if code in _MISSING:
        return NotFound(f"{action}: not found")
    if code in _CONFLICT:
        return Conflict(f"{action}: already exists")
    if code == "NoSuchBucket":
        return DependencyDown(f"{action}: bucket missing")
    if status >= 500 or status == 0:
        return DependencyDown(f"{action}: storage unavailable ({code})")
    return DepotError(f"{action}: storage refused the request ({code})")


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    tagged: bool = False  # the tags asked for at commit were written with the object


@dataclass
class ObjectStream:
    """An open ranged read: ``chunks`` must be consumed or closed."""

    size: int
    start: int
    end: int
    chunks: AsyncIterator[bytes]
