"""``POST /api/v1/data/upload``: multipart parsed as it streams, bytes straight to S3."""

from litestar import Controller, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec

from service.api.auth import require_purpose
from service.api.batch import finish_batch, store
from service.api.receiver import Receiver, request_limit
from service.api.schemas import BatchUploadResponse, ErrorBody, FileView, UploadResponse
from service.domain.digest import parse_repr_digest
from service.domain.forms import UploadForm
from service.errors import InvalidInput, TooLarge
from service.settings import Settings
from service.storage.events import Emitter
from service.storage.files import FileStore


class UploadController(Controller):
    path = "/api/v1/data"
    tags = ["data"]

    @post(
        "/upload",
        operation_id="uploadFile",
        status_code=201,
        request_max_body_size=None,
        summary="Upload a file, or several 'file' parts as a batch "
        "(multipart/form-data: file, purpose, category, description, metadata)",
        responses={
            400: ResponseSpec(
                ErrorBody,
                description="invalid request or file type (or every file of a batch), "
                "or a SHA-256 other than the Repr-Digest header declared",
            ),
            403: ResponseSpec(ErrorBody, description="the API key may not upload to this purpose"),
            409: ResponseSpec(ErrorBody, description="DEPOT_DUPLICATES=reject: this content is already stored"),
            413: ResponseSpec(ErrorBody, description="file larger than the limit"),
            503: ResponseSpec(ErrorBody, description="storage or index unavailable"),
        },
    )
    async def upload(
        self, request: Request, files: FileStore, settings: Settings, emitter: Emitter
    ) -> Response[UploadResponse | BatchUploadResponse]:
        """Stream one file (or several ``file`` parts: a batch) into its purpose's bucket while hashing it.

        Fields may come before or after the file parts and apply to every file. A single
        file is stored only if the whole request is valid and every write succeeds; in a
        batch each file succeeds or fails on its own and the response lists a result per
        file. Each stored file is queued for ingestion and announced as ``file.uploaded``."""
        header = request.headers.get("content-length", "")
        announced = int(header) if header.isascii() and header.isdigit() else None
        if announced is not None and announced > request_limit(settings):
            raise TooLarge(f"file exceeds the upload limit of {settings.max_upload_size} bytes")
        if announced is None or announced > settings.part_size:
            # Fail fast (503) rather than stream a file that cannot be indexed. A body under one part
            # is committed after the index's duplicate lookup, which fails first anyway (files of a
            # batch that landed earlier are removed when it does).
            await files.ping()
        declared = parse_repr_digest(request.headers.get("repr-digest"))  # RFC 9530: checked before the commit
        form = UploadForm(settings.max_description_length, settings.max_metadata_bytes)

        def on_field(name: str) -> None:
            if name == "purpose":
                require_purpose(request, form.purpose.value)  # refuse before more bytes arrive

        receiver = Receiver(request, files, form, settings, on_field)
        outcomes = await receiver.run()
        try:
            if not outcomes:
                raise InvalidInput("missing 'file' part")
            require_purpose(request, form.purpose.value)  # a purpose-bound API key (403)
            if len(outcomes) == 1:
                if outcomes[0].error is not None:
                    raise outcomes[0].error
                outcomes[0].pending.expected_sha256 = declared
                record = await store(files, emitter, outcomes[0].pending)
                return Response(UploadResponse(file=FileView(**record.upload_view())), status_code=201)
            if declared is not None:
                raise InvalidInput("Repr-Digest names one file's SHA-256: send a batch without it")
            return await finish_batch(files, emitter, outcomes)
        except BaseException:
            await receiver.abort()
            raise
