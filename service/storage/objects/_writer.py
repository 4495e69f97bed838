"""ObjectWriter: stream bytes into one new S3 object with bounded memory."""

import asyncio
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from service.errors import Conflict, DepotError, InvalidInput, NotFound
from service.storage.objects._common import MAX_PARTS, ObjectInfo, translate_errors

if TYPE_CHECKING:
    from service.storage.objects._store import ObjectStore


class ObjectWriter:
    """Streams bytes into one new object with bounded memory.

    Up to one part is buffered; a body that fits in it becomes a single conditional
    PutObject, anything larger a multipart upload with ``part_concurrency`` parts in
    flight. The target is chosen as late as possible (see ``choose_target``), so form
    fields that arrive after the file can still decide where a small file goes. Nothing
    is visible until ``commit``; ``abort`` removes every trace."""

    def __init__(
        self, store: "ObjectStore", content_type: str, choose_target: Callable[[], tuple[str, str]],
        overwrite: bool = False,
    ) -> None:
        self.store = store
        self.overwrite = overwrite
        self.content_type = content_type
        self.choose_target = choose_target
        self.part_size = store.settings.part_size
        self.size = 0
        self.target: tuple[str, str] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._inflight: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(store.settings.part_concurrency)
        self._committed = False

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= self.part_size:
            await self._send_part()

    def _take_buffer(self) -> bytes:
        """The buffered chunks as one part (a single copy; parts may exceed part_size slightly)."""
        data = b"".join(self._chunks)
        self._chunks, self._buffered = [], 0
        return data

    async def _send_part(self) -> None:
        """Upload the buffer as the next part, waiting for a free slot first so that at
        most ``part_concurrency`` parts are held in memory at once."""
        if self._upload_id is None:
            self.target = self.choose_target()
            bucket, key = self.target
            async with translate_errors(f"start upload of {key}"):
                response = await self.store.client.create_multipart_upload(
                    Bucket=bucket, Key=key, ContentType=self.content_type
                )
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise InvalidInput("file too large for the configured part size")
        self._parts.append({"PartNumber": number})
        await self._slots.acquire()
        self._raise_failed()
        # The BytesIO must hold the only reference to the part: aiohttp takes its buffer,
        # and a shared one would be copied (measured: one extra part in memory per upload).
        task = asyncio.create_task(self._upload_part(number, io.BytesIO(self._take_buffer())))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _upload_part(self, number: int, data: io.BytesIO) -> None:
        bucket, key = self.target
        try:
            async with translate_errors(f"upload part {number} of {key}"):
                response = await self.store.client.upload_part(
                    Bucket=bucket, Key=key, UploadId=self._upload_id, PartNumber=number, Body=data
                )
            self._parts[number - 1]["ETag"] = response["ETag"]
        finally:
            self._slots.release()

    def _raise_failed(self) -> None:
        for task in list(self._inflight):
            if task.done() and task.exception():
                raise task.exception()

    async def commit(
        self, choose_target: Callable[[], tuple[str, str]] | None = None, tags: dict[str, str] | None = None
    ) -> ObjectInfo:
        """Make the object exist (never overwriting) and return where it landed. ``tags`` go
        with a single-request object (saving a request); ``tagged`` says whether they did."""
        tagged = False
        if self._upload_id is None:
            self.target = (choose_target or self.choose_target)()
            bucket, key = self.target
            put = self.store.replace_bytes if self.overwrite else self.store.put_bytes
            tagged = bool(tags)
            try:
                await put(bucket, key, self._take_buffer(), self.content_type, tags)
            except Conflict as exc:
                await self._check_landed(bucket, key, exc)
        else:
            if self._buffered:
                await self._send_part()
            if self._inflight:
                await asyncio.gather(*self._inflight)
            self._raise_failed()
            bucket, key = self.target
            try:
                async with translate_errors(f"complete upload of {key}"):
                    condition = {} if self.overwrite else {"IfNoneMatch": "*"}
                    await self.store.client.complete_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts}, **condition,
                    )
            except (Conflict, NotFound) as exc:
                await self._check_landed(bucket, key, exc)
        self._committed = True
        return ObjectInfo(bucket=self.target[0], key=self.target[1], size=self.size, tagged=tagged)

    async def _check_landed(self, bucket: str, key: str, error: DepotError) -> None:
        """After a commit answered 'exists' (412) or 'no such upload' (404): when the response to an
        earlier try was lost, the SDK's retry finds our own object. Keys are unique per write, so an
        object of our size at our key is ours: the commit is done (an idempotent retry). Else re-raise."""
        if await self.store.head(bucket, key) != self.size:
            raise error
        self._upload_id = None  # completed: nothing left to abort

    async def abort(self) -> None:
        """Drop everything written so far; safe to call more than once."""
        self._chunks, self._buffered = [], 0
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._upload_id is not None and not self._committed:
            bucket, key = self.target
            upload_id, self._upload_id = self._upload_id, None
            try:
                async with translate_errors(f"abort upload of {key}"):
                    await self.store.client.abort_multipart_upload(
                        Bucket=bucket, Key=key, UploadId=upload_id
                    )
            except DepotError:
                pass  # the bucket's lifecycle rule aborts stale uploads
