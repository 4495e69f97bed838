"""``POST /api/v1/data/upload``: multipart parsed as it streams, bytes straight to S3."""

from litestar import Controller, Request, post
from litestar.openapi.datastructures import ResponseSpec

from service.api.multipart import PartData, PartEnd, PartStart, multipart_events
from service.api.schemas import ErrorBody, FileView, UploadResponse
from service.domain.forms import MAX_FIELD_BYTES, UploadForm
from service.errors import InvalidInput, TooLarge
from service.settings import Settings
from service.storage.files import FileStore, PendingUpload

FORM_OVERHEAD = 256 * 1024  # room for boundaries and text fields beside the file


class UploadController(Controller):
    path = "/api/v1/data"
    tags = ["data"]

    @post(
        "/upload",
        operation_id="uploadFile",
        status_code=201,
        request_max_body_size=None,
        summary="Upload a file (multipart/form-data: file, purpose, category, description, metadata)",
        responses={
            400: ResponseSpec(ErrorBody, description="invalid request or file type"),
            413: ResponseSpec(ErrorBody, description="file larger than the limit"),
            503: ResponseSpec(ErrorBody, description="storage or index unavailable"),
        },
    )
    async def upload(self, request: Request, files: FileStore, settings: Settings) -> UploadResponse:
        """Stream one file into its purpose's bucket while hashing it.

        Fields may come before or after the file part. Nothing is stored unless the
        whole request is valid and every write succeeds."""
        announced = request.headers.get("content-length")
        if announced and announced.isdigit() and int(announced) > settings.max_upload_size + FORM_OVERHEAD:
            raise TooLarge(f"file exceeds the upload limit of {settings.max_upload_size} bytes")
        await files.index.ping()  # fail fast (503) rather than stream a file that cannot be indexed
        form = UploadForm(settings.max_description_length, settings.max_metadata_bytes)
        pending: PendingUpload | None = None
        try:
            pending = await self._receive(request, files, form)
            record = await files.finish_upload(pending)
        except BaseException:
            if pending is not None:
                await pending.abort()
            raise
        return UploadResponse(file=FileView(**record.upload_view()))

    @staticmethod
    async def _receive(request: Request, files: FileStore, form: UploadForm) -> PendingUpload:
        pending: PendingUpload | None = None
        field_name: str | None = None
        value = bytearray()
        in_file = False
        try:
            async for event in multipart_events(request.stream(), request.headers.get("content-type")):
                if isinstance(event, PartData):
                    if in_file:
                        await pending.write(event.data)
                    else:
                        value += event.data
                        if len(value) > MAX_FIELD_BYTES:
                            raise InvalidInput(f"form field {field_name!r} is too large")
                elif isinstance(event, PartStart):
                    if event.name == "file":
                        if pending is not None:
                            raise InvalidInput("only one 'file' part per request")
                        pending = files.start_upload(form, event.filename)
                        in_file = True
                    elif event.filename is not None:
                        raise InvalidInput(f"unexpected file part {event.name!r}; the file goes in 'file'")
                    else:
                        field_name, value, in_file = event.name, bytearray(), False
                elif isinstance(event, PartEnd) and not in_file and field_name is not None:
                    try:
                        form.add(field_name, value.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise InvalidInput(f"form field {field_name!r} is not UTF-8") from None
                    field_name = None
        except BaseException:
            if pending is not None:
                await pending.abort()
            raise
        if pending is None:
            raise InvalidInput("missing 'file' part")
        return pending
