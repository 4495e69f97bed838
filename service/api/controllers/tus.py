"""Resumable uploads over tus 1.0.0 at ``/api/v1/data/tus`` (README "Resumable uploads").

Creation checks the whole upload form (from ``Upload-Metadata``) before a byte is sent;
each PATCH streams into S3 parts (``service.storage.tus``); the last one commits the file
exactly like POST /upload and names it in ``Depot-File-Path``. An upload belongs to the
API key that created it: any other key gets 404."""

import email.utils
import json
import secrets

from litestar import Controller, Request, Response, delete, get, head, patch, post, route
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec

from service.api.auth import require_purpose
from service.api.batch import store
from service.api.errors import depot_error
from service.api.schemas import ErrorBody, FileView, UploadResponse
from service.domain.apikeys import ApiKey
from service.domain.digest import parse_repr_digest
from service.domain.records import FileRecord
from service.domain.tus import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    OFFSET_TYPE,
    TUS_VERSION,
    parse_checksum,
    parse_number,
    parse_upload_metadata,
    single,
    valid_id,
)
from service.errors import (
    ChecksumMismatch,
    Conflict,
    DepotError,
    DigestMismatch,
    InvalidInput,
    NotFound,
    TooLarge,
    UnsupportedMediaType,
    VersionMismatch,
)
from service.settings import Settings
from service.storage.events import Emitter
from service.storage.files import FileStore
from service.storage.tus import Chunk, TusStore
from service.storage.tus_state import TusUpload

PREFIX = "/api/v1/data/tus"
FILE_PATH_HEADER = "Depot-File-Path"  # the final PATCH's answer: where the stored file is
ERRORS = {
    400: ResponseSpec(ErrorBody, description="malformed header or metadata, or content not of its type"),
    403: ResponseSpec(ErrorBody, description="the API key may not upload to this purpose"),
    404: ResponseSpec(ErrorBody, description="no such upload (or it expired, or another key made it)"),
    409: ResponseSpec(ErrorBody, description="Upload-Offset is not the upload's offset; or a duplicate (reject)"),
    412: ResponseSpec(ErrorBody, description="Tus-Resumable is not 1.0.0"),
    413: ResponseSpec(ErrorBody, description="Upload-Length or the bytes sent exceed the limit"),
    415: ResponseSpec(ErrorBody, description="PATCH body is not application/offset+octet-stream"),
    423: ResponseSpec(ErrorBody, description="another request is writing this upload"),
    460: ResponseSpec(ErrorBody, description="Upload-Checksum or Repr-Digest mismatch (chunk dropped)"),
    503: ResponseSpec(ErrorBody, description="storage or index unavailable"),
}
WRITE = {"scope": "write"}  # every tus request is part of uploading, HEAD and DELETE included


def tus_error(request: Request, exc: DepotError) -> Response:
    """Errors as everywhere (JSON), plus the headers tus clients look for."""
    response = depot_error(request, exc)
    response.headers["Tus-Resumable"] = TUS_VERSION
    if isinstance(exc, VersionMismatch):
        response.headers["Tus-Version"] = TUS_VERSION
    return response


def owner_of(request: Request) -> str:
    key = request.scope.get("auth")
    return key.ident if isinstance(key, ApiKey) else ""


def header(request: Request, name: str) -> str | None:
    return single(request.headers.getall(name, []), name)


def check_version(request: Request) -> None:
    if header(request, "tus-resumable") != TUS_VERSION:
        raise VersionMismatch(f"Tus-Resumable: {TUS_VERSION} required")


def upload_headers(upload: TusUpload) -> dict[str, str]:
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(upload.offset),
        "Cache-Control": "no-store",
        "Upload-Expires": email.utils.formatdate(upload.expires, usegmt=True),
    }
    if upload.result:
        headers[FILE_PATH_HEADER] = json.loads(upload.result)["path"]
    return headers


class TusController(Controller):
    path = PREFIX
    tags = ["tus"]
    exception_handlers = {DepotError: tus_error}

    @route(
        "/",
        http_method=[HttpMethod.OPTIONS],
        operation_id="tusOptions",
        status_code=204,
        opt={"exclude_from_auth": True},
        include_in_schema=False,
    )
    async def capabilities(self, settings: Settings) -> Response[None]:
        """What this tus server offers (no key needed: it reveals no data)."""
        return Response(
            None,
            status_code=204,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": EXTENSIONS,
                "Tus-Max-Size": str(settings.max_upload_size),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
            },
        )

    @post("/", operation_id="tusCreate", status_code=201, request_max_body_size=None, opt=WRITE, responses=ERRORS)
    async def create(
        self, request: Request, tus: TusStore, files: FileStore, emitter: Emitter, settings: Settings
    ) -> Response[None]:
        """Create an upload (tus creation, creation-defer-length); a body in the same request is its first
        chunk (creation-with-upload). ``Upload-Metadata`` carries filename, purpose, category,
        description and metadata, checked as POST /upload checks its form; ``Repr-Digest`` declares the
        whole file's SHA-256."""
        check_version(request)
        length = parse_number(header(request, "upload-length"), "Upload-Length")
        defer = header(request, "upload-defer-length")
        if defer is not None and defer.strip() != "1":
            raise InvalidInput("Upload-Defer-Length must be 1")
        if (length is None) == (defer is None):
            raise InvalidInput("send exactly one of Upload-Length and Upload-Defer-Length: 1")
        if length is not None and length > settings.max_upload_size:
            raise TooLarge(f"file exceeds the upload limit of {settings.max_upload_size} bytes")
        meta = parse_upload_metadata(header(request, "upload-metadata"))
        digest = parse_repr_digest(header(request, "repr-digest"))
        with_body = self._body_type(request)
        require_purpose(request, tus.form_of(meta).purpose.value)  # a purpose-bound key (403)
        upload = await tus.create(secrets.token_hex(16), owner_of(request), length, meta, digest)
        if with_body or length == 0:
            checksum = parse_checksum(header(request, "upload-checksum"))
            async with tus.locked(upload.id) as token:
                await self._receive(request, tus, files, emitter, upload, token, checksum, with_body)
        return Response(None, status_code=201, headers={**upload_headers(upload), "Location": f"{PREFIX}/{upload.id}"})

    @head("/{upload_id:str}", operation_id="tusStatus", opt=WRITE, responses=ERRORS)
    async def status(self, request: Request, tus: TusStore, upload_id: str) -> Response[None]:
        """The upload's offset (where to resume), its length and expiry."""
        upload = await self._get(request, tus, upload_id)
        headers = upload_headers(upload)
        if upload.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(upload.length)
        return Response(None, headers=headers)

    @patch(
        "/{upload_id:str}",
        operation_id="tusWrite",
        status_code=204,
        request_max_body_size=None,
        opt=WRITE,
        responses=ERRORS,
    )
    async def write(
        self, request: Request, tus: TusStore, files: FileStore, emitter: Emitter, upload_id: str
    ) -> Response[None]:
        """Append a chunk at ``Upload-Offset`` (optionally with ``Upload-Checksum``); the chunk that
        completes the upload commits the file, named in the ``Depot-File-Path`` header."""
        check_version(request)
        if not valid_id(upload_id):
            raise NotFound("no such upload")
        async with tus.writing(upload_id, owner_of(request)) as (token, upload):
            if not self._body_type(request, required=True):
                raise UnsupportedMediaType(f"Content-Type must be {OFFSET_TYPE}")
            offset = parse_number(header(request, "upload-offset"), "Upload-Offset")
            if offset is None:
                raise InvalidInput("Upload-Offset is required")
            checksum = parse_checksum(header(request, "upload-checksum"))
            length = parse_number(header(request, "upload-length"), "Upload-Length")
            if offset != upload.offset:
                raise Conflict(f"Upload-Offset is {offset} but the upload is at {upload.offset}")
            if not upload.result:
                if length is not None:
                    await tus.declare_length(upload, token, length)
                await self._receive(request, tus, files, emitter, upload, token, checksum, True)
        return Response(None, status_code=204, headers=upload_headers(upload))

    @delete("/{upload_id:str}", operation_id="tusTerminate", status_code=204, opt=WRITE, responses=ERRORS)
    async def terminate(self, request: Request, tus: TusStore, upload_id: str) -> None:
        """Abandon an upload (tus termination): its parts and state go; a stored file stays."""
        upload = await self._get(request, tus, upload_id)
        async with tus.locked(upload.id):
            await tus.remove(upload)

    @get("/{upload_id:str}", operation_id="tusResult", opt=WRITE, responses=ERRORS)
    async def result(self, request: Request, tus: TusStore, upload_id: str) -> UploadResponse:
        """After the last PATCH: POST /upload's answer for the stored file."""
        upload = await self._get(request, tus, upload_id)
        if not upload.result:
            raise Conflict(f"upload not complete: {upload.offset} bytes received")
        return UploadResponse(file=FileView(**json.loads(upload.result)))

    # -------------------------------------------------------------------------
    @staticmethod
    async def _get(request: Request, tus: TusStore, upload_id: str, tail: bool = False) -> TusUpload:
        """The caller's upload (404 for anyone else's); its tail only when bytes will be added."""
        if request.method != "GET":  # GET is Depot's, not tus's
            check_version(request)
        if not valid_id(upload_id):
            raise NotFound("no such upload")
        return await tus.get(upload_id, owner_of(request), tail)

    @staticmethod
    def _body_type(request: Request, required: bool = False) -> bool:
        """Whether the request carries a chunk; a body of another type is a 415."""
        content_type = (header(request, "content-type") or "").split(";")[0].strip().lower()
        if content_type == OFFSET_TYPE:
            return True
        if required or (content_type and request.headers.get("content-length", "0") != "0"):
            raise UnsupportedMediaType(f"Content-Type must be {OFFSET_TYPE}")
        return False

    @staticmethod
    async def _receive(
        request: Request,
        tus: TusStore,
        files: FileStore,
        emitter: Emitter,
        upload: TusUpload,
        token: str,
        checksum: tuple[str, bytes] | None,
        with_body: bool,
    ) -> None:
        """Take the body, then commit the file if it was the last chunk."""
        announced = parse_number(request.headers.get("content-length"), "Content-Length")
        if upload.length is not None and announced is not None and upload.offset + announced > upload.length:
            raise TooLarge(f"body goes past Upload-Length ({upload.length} bytes)")
        if with_body:
            try:
                await tus.write(upload, token, Chunk(request.stream(), checksum, announced))
            except InvalidInput:  # its first bytes are not what its name says: it can never succeed
                await tus.remove(upload)
                raise
        if upload.length is not None and upload.offset == upload.length:
            record = await _finish(tus, files, emitter, upload)
            await tus.mark_done(upload, token, json.dumps(record.upload_view()))


async def _finish(tus: TusStore, files: FileStore, emitter: Emitter, upload: TusUpload) -> FileRecord:
    """POST /upload's commit; if it fails the upload is over (its parts and state go)."""
    try:
        return await store(files, emitter, tus.pending(upload))
    except DigestMismatch as exc:
        await tus.remove(upload)
        raise ChecksumMismatch(exc.message) from None
    except DepotError:
        await tus.remove(upload)
        raise
