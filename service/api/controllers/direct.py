"""Direct transfers to S3 at ``/api/v1/data/direct`` (README "Direct transfers"; off by default).

The client declares the file, PUTs its parts to S3 with presigned URLs it asks for in
batches, then asks Depot to complete: Depot completes the multipart upload and a worker
verifies the SHA-256 and commits the file exactly like POST /upload
(``service.storage.direct``). An upload belongs to the API key that created it: any other
key gets 404. Redirect downloads are ``GET /api/v1/data/files/{path}?redirect=true``."""

import json
import secrets
from datetime import UTC, datetime

from litestar import Controller, Request, Response, delete, get, post
from litestar.openapi.datastructures import ResponseSpec

from service.api.auth import require_purpose
from service.api.controllers.tus import owner_of
from service.api.direct_schemas import (
    DirectCapabilities,
    DirectComplete,
    DirectCreate,
    DirectStatus,
    PartNumbers,
    PartUrl,
    PartUrls,
)
from service.api.schemas import ErrorBody, FileView
from service.domain.tus import valid_id
from service.errors import InvalidInput, NotFound
from service.settings import Settings
from service.storage.direct import DISABLED, DirectStore
from service.storage.direct_state import DirectUpload

PREFIX = "/api/v1/data/direct"
ERRORS = {
    400: ResponseSpec(
        ErrorBody,
        description="direct transfers disabled; invalid declaration, part numbers or "
        "part list; or S3 holds other bytes than declared",
    ),
    403: ResponseSpec(ErrorBody, description="the API key may not upload to this purpose"),
    404: ResponseSpec(ErrorBody, description="no such upload (or it expired, or another key made it)"),
    409: ResponseSpec(ErrorBody, description="the upload is past the step asked for (completed, verifying...)"),
    413: ResponseSpec(ErrorBody, description="the declared size exceeds the limit"),
    503: ResponseSpec(ErrorBody, description="storage or index unavailable"),
}
WRITE = {"scope": "write"}  # every direct request is part of uploading


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_of(upload: DirectUpload) -> DirectStatus:
    return DirectStatus(
        id=upload.id,
        state=upload.state,
        size=upload.size,
        sha256=upload.sha256 or None,
        part_size=upload.part_size,
        parts=upload.parts,
        expires=iso(upload.expires),
        error=upload.error or None,
        file=FileView(**upload.result) if upload.result else None,
    )


class DirectController(Controller):
    path = PREFIX
    tags = ["direct"]

    @get("/", operation_id="directCapabilities", opt=WRITE, responses=ERRORS)
    async def capabilities(self, direct: DirectStore) -> DirectCapabilities:
        """Whether this server offers direct transfers, and their limits (a client's first question)."""
        return DirectCapabilities(**direct.capabilities())

    @post("/", operation_id="directCreate", status_code=201, opt=WRITE, responses=ERRORS)
    async def create(
        self, request: Request, direct: DirectStore, settings: Settings, data: DirectCreate
    ) -> Response[DirectStatus]:
        """Declare a file (POST /upload's fields plus ``size`` and ``sha256``): checked as POST /upload
        checks its form, then an S3 multipart upload is opened. ``Location`` is the upload's status URL."""
        self._enabled(settings)
        meta = {"filename": data.filename}
        for name in ("purpose", "category", "description"):
            if getattr(data, name) is not None:
                meta[name] = getattr(data, name)
        if data.metadata is not None:
            meta["metadata"] = data.metadata if isinstance(data.metadata, str) else json.dumps(data.metadata)
        require_purpose(request, direct.form_of(meta).purpose.value)  # a purpose-bound key (403)
        upload = await direct.create(
            secrets.token_hex(16), owner_of(request), meta, data.size, (data.sha256 or "").lower()
        )
        return Response(status_of(upload), status_code=201, headers={"Location": f"{PREFIX}/{upload.id}"})

    @get("/{upload_id:str}", operation_id="directStatus", opt=WRITE, responses=ERRORS)
    async def status(self, request: Request, direct: DirectStore, settings: Settings, upload_id: str) -> DirectStatus:
        """The upload's state: uploading, verifying, stored (with ``file``: POST /upload's answer) or
        failed (with ``error``)."""
        return status_of(await self._get(request, direct, settings, upload_id))

    @post("/{upload_id:str}/parts", operation_id="directPartUrls", status_code=200, opt=WRITE, responses=ERRORS)
    async def part_urls(
        self, request: Request, direct: DirectStore, settings: Settings, upload_id: str, data: PartNumbers
    ) -> PartUrls:
        """Presigned PUT URLs for the parts named (at most ``max_urls``), signed now: ask as you go."""
        upload = await self._get(request, direct, settings, upload_id)
        urls = direct.part_urls(upload, data.numbers)
        return PartUrls(
            expires=iso(datetime.now(UTC).timestamp() + settings.presign_expiry_seconds),
            urls=[PartUrl(**u) for u in urls],
        )

    @post(
        "/{upload_id:str}/complete",
        operation_id="directComplete",
        status_code=202,
        opt=WRITE,
        responses=ERRORS,
    )
    async def complete(
        self, request: Request, direct: DirectStore, settings: Settings, upload_id: str, data: DirectComplete
    ) -> Response[DirectStatus]:
        """Every part with its ETag: Depot completes the S3 upload and queues the verification
        (SHA-256, content check, then POST /upload's commit). Poll ``Location`` until stored or failed."""
        upload = await self._get(request, direct, settings, upload_id)
        etags: dict[int, str] = {}
        for part in data.parts:
            if part.number in etags:
                raise InvalidInput(f"part {part.number} listed twice")
            etags[part.number] = part.etag
        await direct.complete(upload, etags, (data.sha256 or "").lower())
        return Response(status_of(upload), status_code=202, headers={"Location": f"{PREFIX}/{upload.id}"})

    @delete("/{upload_id:str}", operation_id="directAbort", status_code=204, opt=WRITE, responses=ERRORS)
    async def abort(self, request: Request, direct: DirectStore, settings: Settings, upload_id: str) -> None:
        """Abandon an upload: its parts (or unverified object) go, and a verification under way loses.
        A stored file stays; only the record is forgotten."""
        await direct.abort(await self._get(request, direct, settings, upload_id))

    # -------------------------------------------------------------------------
    @staticmethod
    def _enabled(settings: Settings) -> None:
        if not settings.direct_transfers:
            raise InvalidInput(DISABLED)

    @classmethod
    async def _get(cls, request: Request, direct: DirectStore, settings: Settings, upload_id: str) -> DirectUpload:
        cls._enabled(settings)
        if not valid_id(upload_id):
            raise NotFound("no such direct upload")
        return await direct.get(upload_id, owner_of(request))
