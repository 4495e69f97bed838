"""Reading an upload request: text fields into the form, each ``file`` part into its own
pending upload, as the multipart stream arrives (one or many files: a batch).

Per-file failures (a bad name or type, content that does not match its extension, a
file over the size limit, a storage fault) are recorded on that file and its remaining
bytes are dropped, so one bad file does not sink the others; request-level faults (a
malformed body or form field, too many files, a body over the request limit) abort the
whole request. In a batch each file is committed as soon as its part ends, to the
target known so far; ``FileStore.finish_upload`` moves it server-side if a purpose
field arrives later. So at most one file's buffer is held in memory at any time."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from litestar import Request

from service.api.multipart import PartData, PartEnd, PartStart, multipart_events
from service.domain.forms import MAX_FIELD_BYTES, UploadForm
from service.errors import DepotError, InvalidInput, TooLarge
from service.settings import Settings
from service.storage.files import FileStore, PendingUpload

FORM_OVERHEAD = 256 * 1024  # room for boundaries and text fields beside the files


def request_limit(settings: Settings) -> int:
    """The largest request body: one file at the limit, or a batch of at most ``max_batch_bytes``."""
    return max(settings.max_upload_size, settings.max_batch_bytes) + FORM_OVERHEAD


@dataclass
class FileOutcome:
    """One ``file`` part: its pending upload, or why it failed."""

    filename: str | None
    pending: PendingUpload | None = None
    error: DepotError | None = None

    async def fail(self, error: DepotError) -> None:
        self.error = error
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending.abort()


class Receiver:
    def __init__(self, request: Request, files: FileStore, form: UploadForm, settings: Settings,
                 on_field: Callable[[str], None] = lambda name: None) -> None:
        self.request, self.files, self.form, self.settings = request, files, form, settings
        self.on_field = on_field
        self.outcomes: list[FileOutcome] = []
        self.limit = request_limit(settings)

    async def _counted(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self.request.stream():
            received += len(chunk)
            if received > self.limit:
                if len(self.outcomes) == 1 and self.outcomes[0].error is not None:
                    raise self.outcomes[0].error  # one file: its own error (e.g. 400 for its content)
                raise TooLarge(f"request exceeds the upload limit of {self.limit - FORM_OVERHEAD} bytes")
            yield chunk

    async def run(self) -> list[FileOutcome]:
        """Read the whole body; on a request-level failure every file is undone."""
        try:
            await self._read()
        except BaseException:
            await self.abort()
            raise
        return self.outcomes

    async def abort(self) -> None:
        for outcome in self.outcomes:
            if outcome.pending is not None:
                await outcome.pending.abort()

    async def _read(self) -> None:
        current: FileOutcome | None = None
        field_name: str | None = None
        value = bytearray()
        async for event in multipart_events(self._counted(), self.request.headers.get("content-type")):
            if isinstance(event, PartData):
                if current is not None:
                    if current.pending is not None:
                        try:
                            await current.pending.write(event.data)
                        except DepotError as exc:
                            await current.fail(exc)
                else:
                    value += event.data
                    if len(value) > MAX_FIELD_BYTES:
                        raise InvalidInput(f"form field {field_name!r} is too large")
            elif isinstance(event, PartStart):
                if event.name == "file":
                    current = await self._start_file(event.filename)
                elif event.filename is not None:
                    raise InvalidInput(f"unexpected file part {event.name!r}; the file goes in 'file'")
                else:
                    field_name, value, current = event.name, bytearray(), None
            elif isinstance(event, PartEnd):
                if current is not None:
                    await self._end_file(current)
                    current = None
                elif field_name is not None:
                    try:
                        self.form.add(field_name, value.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise InvalidInput(f"form field {field_name!r} is not UTF-8") from None
                    self.on_field(field_name)
                    field_name = None

    async def _start_file(self, filename: str | None) -> FileOutcome:
        if len(self.outcomes) >= self.settings.max_batch_files:
            raise InvalidInput(f"at most {self.settings.max_batch_files} files per request")
        if len(self.outcomes) == 1:
            await self._land(self.outcomes[0])  # a second file: this is a batch
        outcome = FileOutcome(filename)
        self.outcomes.append(outcome)
        try:
            outcome.pending = self.files.start_upload(self.form, filename)
        except DepotError as exc:
            outcome.error = exc
        return outcome

    async def _end_file(self, outcome: FileOutcome) -> None:
        if outcome.pending is None:
            return
        try:
            outcome.pending.end()  # the content check of a file shorter than the sniff window
        except DepotError as exc:
            await outcome.fail(exc)
            return
        if len(self.outcomes) > 1:
            await self._land(outcome)

    @staticmethod
    async def _land(outcome: FileOutcome) -> None:
        if outcome.pending is not None:
            try:
                await outcome.pending.land()
            except DepotError as exc:
                await outcome.fail(exc)
