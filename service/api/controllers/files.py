"""Stored files: list, download (ranged, streamed), metadata, delete, stats."""

from typing import Annotated
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, head
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream
from litestar.serialization import encode_json

from service.api.auth import bound_purpose
from service.api.schemas import (
    ErrorBody,
    FileList,
    FileMetadata,
    ListEntry,
    Message,
    MetadataResponse,
    Stats,
    StatsResponse,
)
from service.domain.categories import Category, Purpose
from service.domain.conditional import none_match
from service.domain.digest import repr_digest
from service.domain.events import FileDeleted
from service.domain.ranges import parse_range
from service.domain.records import FileRecord, Status
from service.errors import DepotError, InvalidInput
from service.storage.direct import DISABLED, DirectStore
from service.storage.events import Emitter
from service.storage.files import FileStore

MAX_OFFSET = 10**12  # Redis ranges take 64-bit integers; larger offsets are a 400, not a 503

ERRORS = {
    400: ResponseSpec(ErrorBody, description="invalid parameters"),
    403: ResponseSpec(ErrorBody, description="invalid file path"),
    404: ResponseSpec(ErrorBody, description="no such file"),
    503: ResponseSpec(ErrorBody, description="storage or index unavailable"),
}


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266)."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_headers(record: FileRecord) -> dict[str, str]:
    return {
        "ETag": f'"{record.hash}"',
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(record.original_filename),
        "X-Checksum-SHA256": record.hash,
        "Repr-Digest": repr_digest(record.hash),  # RFC 9530; HEAD answers the same headers
    }


class FilesController(Controller):
    path = "/api/v1/data"
    tags = ["data"]

    @get("/files", operation_id="listFiles", responses=ERRORS)
    async def list_files(
        self,
        files: FileStore,
        purpose: Purpose | None = None,
        category: Category | None = None,
        status: Annotated[Status | None, Parameter(description="processing status")] = None,
        limit: Annotated[int, Parameter(ge=1, le=1000, description="page size")] = 100,
        offset: Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="entries to skip")] = 0,
    ) -> FileList:
        """List stored files, newest first, from the index."""
        total, entries = await files.page(purpose, category, limit, offset, status)
        return FileList(total=total, limit=limit, offset=offset, files=[ListEntry(**e) for e in entries])

    @get(
        "/files/{file_path:path}",
        operation_id="getFile",
        responses={
            200: ResponseSpec(MetadataResponse, description="the file (or its metadata with ?metadata=true)"),
            307: ResponseSpec(None, description="?redirect=true: Location is a short-lived presigned S3 GET "
                              "(README \"Direct transfers\"); 400 when direct transfers are disabled"),
            206: ResponseSpec(bytes, description="a byte range of the file", media_type="application/octet-stream"),
            304: ResponseSpec(None, description="If-None-Match names the current ETag (or is *)"),
            416: ResponseSpec(ErrorBody, description="range not satisfiable"),
            **ERRORS,
        },
    )
    async def get_file(
        self, request: Request, files: FileStore, direct: DirectStore, file_path: str, metadata: bool = False,
        redirect: Annotated[bool, Parameter(description="answer 307 to a presigned S3 GET (direct transfers)")] = False,
    ) -> Response:
        """Download a file (streamed, with Range support) or, with ``?metadata=true``, its metadata; with
        ``?redirect=true``, a 307 to a short-lived presigned S3 URL that keeps the file's name and type."""
        if redirect and not direct.settings.direct_transfers:
            raise InvalidInput(DISABLED)
        record = await files.record(file_path)
        if metadata:
            return Response(MetadataResponse(metadata=FileMetadata(**record.metadata_view())))
        if redirect:
            bucket, key = files.location(record)
            url = direct.download_url(bucket, key, content_disposition(record.original_filename), record.content_type)
            return Response(b"", status_code=307, headers={"Location": url, "Cache-Control": "no-store"})
        headers = download_headers(record)
        if none_match(request.headers.getall("if-none-match", []), headers["ETag"]):
            return Response(b"", status_code=304, headers=headers)
        wanted = parse_range(request.headers.get("range"), record.size)
        if record.size == 0:
            return Response(b"", media_type=record.content_type, headers=headers)
        start, end = wanted or (0, record.size - 1)
        stream = await files.open(record, start, end if wanted else None)
        headers["Content-Length"] = str(stream.end - stream.start + 1)
        if wanted:
            headers["Content-Range"] = f"bytes {stream.start}-{stream.end}/{stream.size}"
        return Stream(
            stream.chunks, media_type=record.content_type, headers=headers,
            status_code=206 if wanted else 200,
        )

    @head(
        "/files/{file_path:path}",
        operation_id="headFile",
        responses={
            304: ResponseSpec(None, description="If-None-Match names the current ETag (or is *)"),
            **ERRORS,
        },
    )
    async def head_file(
        self, request: Request, files: FileStore, file_path: str, metadata: bool = False
    ) -> None:
        """The headers a ``GET`` would send (Content-Length, ETag, Accept-Ranges, Content-Disposition,
        Content-Type, Repr-Digest), without the body and without touching the object. ``Range`` is ignored, as
        RFC 9110 §14.2 defines it for GET only."""
        # Litestar wants HEAD handlers annotated ``None``; a Response without a body is still allowed.
        record = await files.record(file_path)
        if metadata:
            body = encode_json(MetadataResponse(metadata=FileMetadata(**record.metadata_view())).model_dump(mode="json"))
            return Response(b"", media_type="application/json", headers={"Content-Length": str(len(body))})
        headers = download_headers(record)
        if none_match(request.headers.getall("if-none-match", []), headers["ETag"]):
            return Response(b"", status_code=304, headers=headers)
        headers["Content-Length"] = str(record.size)
        return Response(b"", media_type=record.content_type, headers=headers)

    @delete("/files/{file_path:path}", operation_id="deleteFile", status_code=200, responses=ERRORS)
    async def delete_file(self, files: FileStore, emitter: Emitter, file_path: str) -> Message:
        """Delete a file, its manifest and its index entry (announced as ``file.deleted``)."""
        purpose, category, path = await files.delete(file_path)
        try:
            await emitter.emit(FileDeleted(path=path, purpose=purpose.value, category=category.value))
        except DepotError:
            pass  # the file is gone either way; the event log was unavailable
        return Message(message="File deleted successfully")

    @get("/stats", operation_id="getStats", responses=ERRORS)
    async def stats(self, request: Request, files: FileStore) -> StatsResponse:
        """Counts and sizes by purpose and category, from the index. A purpose-bound API key sees
        only its purpose: the other one is zeroed and left out of the totals and categories."""
        return StatsResponse(stats=Stats(**await files.stats(bound_purpose(request))))
