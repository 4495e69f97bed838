"""Resumable uploads (tus): bytes go straight into an S3 multipart upload at the file's
final key, state lives in Redis (``tus_state``), and completion is the same
``FileStore.finish_upload`` commit as POST /upload (design rule 9: an extension, not a
new pathway).

A PATCH body goes into S3 parts as it arrives (``tus_write``): a body of known length
that reaches S3's 5 MiB part minimum is streamed into parts sized to leave nothing over;
(without a checksum) the progress is saved as soon as each part is in S3, so a cut
connection or a killed process loses at most the part being sent. What a smaller body
leaves (less than 5 MiB, or less than a part for a body of unknown length) is the tail,
kept in the Redis hash; the next PATCH sends it first. Part numbers follow the saved ETag
list, so a part sent by a request that later failed is simply overwritten by the next one.

Opened by ``service.wiring`` (``Clients.tus``) with the process's S3 store and a binary-safe
Redis client of its own (the shared one decodes every answer as text)."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from service.domain.forms import UploadForm
from service.domain.sha256state import Sha256State
from service.domain.sniff import SNIFF_BYTES, Sniffer
from service.errors import InvalidInput, Locked, NotFound, TooLarge
from service.settings import Settings
from service.storage.files import FileStore, PendingUpload
from service.storage.objects import ObjectInfo, ObjectStore
from service.storage.tus_state import TusState, TusUpload
from service.storage.tus_write import PatchWriter


@dataclass
class Chunk:
    """What one PATCH brings: its body, and the checksum it must match (if any)."""

    body: AsyncIterator[bytes]
    checksum: tuple[str, bytes] | None = None
    size: int | None = None  # Content-Length, when the client sent one


class TusStore:
    def __init__(self, files: FileStore, objects: ObjectStore, state: TusState, settings: Settings) -> None:
        self.files = files  # the commit: FileStore.finish_upload, as for POST /upload
        self.objects = objects  # the bytes: a multipart upload at the file's final key
        self.state = state
        self.settings = settings
        self.parts = objects.multipart()

    # creation -----------------------------------------------------------------
    def form_of(self, meta: dict[str, str]) -> UploadForm:
        """The upload form the metadata stands for, checked with POST /upload's rules."""
        return UploadForm.of(meta, self.settings.max_description_length, self.settings.max_metadata_bytes)

    async def create(
        self, upload_id: str, owner: str, length: int | None, meta: dict[str, str], digest: str | None
    ) -> TusUpload:
        if length is not None and length > self.settings.max_upload_size:
            raise TooLarge(f"file exceeds the upload limit of {self.settings.max_upload_size} bytes")
        form = self.form_of(meta)
        pending = self.files.start_upload(form, meta.get("filename"))  # name, type and category checks
        meta = {**meta, "filename": pending.original_filename}  # as checked (NFC)
        bucket, key = pending.target()
        upload = TusUpload(
            id=upload_id,
            owner=owner,
            length=length,
            offset=0,
            expires=time.time() + self.settings.tus_expiry_seconds,
            meta=meta,
            name=pending.name,
            uploaded_at=pending.uploaded_at,
            content_type=pending.content_type,
            bucket=bucket,
            key=key,
            digest=digest or "",
            sha=Sha256State().state,
        )
        await self.state.create(upload)
        return upload

    # reads ---------------------------------------------------------------------
    async def get(self, upload_id: str, owner: str, tail: bool = True) -> TusUpload:
        """The upload if it exists, has not expired and belongs to ``owner`` (else 404)."""
        upload = await self.state.load(upload_id, tail)
        if upload is None or upload.owner != owner or upload.expires <= time.time():
            raise NotFound("no such upload")
        return upload

    @asynccontextmanager
    async def writing(self, upload_id: str, owner: str) -> AsyncIterator[tuple[str, TusUpload]]:
        """The caller's upload, locked and loaded in one Redis round trip (a PATCH's way in): 404 for
        a missing, expired or someone else's upload (locked or not), 423 while another request writes."""
        token, upload = await self.state.lock_load(upload_id)
        try:
            if upload is None or upload.owner != owner or upload.expires <= time.time():
                raise NotFound("no such upload")
            if token is None:
                raise Locked("another request is writing this upload; retry later")
            yield token, upload
        finally:
            if token is not None:
                await self.state.unlock(upload_id, token)

    @asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[str]:
        token = await self.state.lock(upload_id)
        if token is None:
            raise Locked("another request is writing this upload; retry later")
        try:
            yield token
        finally:
            await self.state.unlock(upload_id, token)

    # writes --------------------------------------------------------------------
    async def declare_length(self, upload: TusUpload, token: str, length: int) -> None:
        """creation-defer-length: the length, once, in a PATCH."""
        if upload.length is not None:
            if length != upload.length:
                raise InvalidInput("Upload-Length cannot change once set")
            return
        if length > self.settings.max_upload_size:
            raise TooLarge(f"file exceeds the upload limit of {self.settings.max_upload_size} bytes")
        if length < upload.offset:
            raise InvalidInput("Upload-Length is smaller than the bytes already received")
        await self.save(upload, token, length=length)
        upload.length = length

    async def write(self, upload: TusUpload, token: str, chunk: Chunk) -> None:
        """Append one PATCH body at ``upload.offset``; ``upload`` is updated to what was saved."""
        await PatchWriter(self, upload, token, chunk.checksum, chunk.size).run(chunk.body)

    async def start_multipart(self, upload: TusUpload) -> None:
        if not upload.upload_id:
            upload.upload_id = await self.parts.start(upload.bucket, upload.key, upload.content_type)
            await self.state.set_upload_id(upload.id, upload.upload_id)  # cleanup must find it

    async def put_part(self, upload: TusUpload, number: int, data: bytes) -> str:
        await self.start_multipart(upload)
        return await self.parts.put_part(upload.bucket, upload.key, upload.upload_id, number, data)

    async def stream_part(self, upload: TusUpload, number: int, size: int, chunks: AsyncIterator[bytes]) -> str:
        """Part ``number`` sent as its ``size`` bytes arrive (``start_multipart`` first)."""
        return await self.parts.put_part_stream(upload.bucket, upload.key, upload.upload_id, number, size, chunks)

    async def commit(
        self, upload: TusUpload, token: str, offset: int, sha: bytes, tail: bytes, etags: list[str]
    ) -> None:
        """Save progress: bytes up to ``offset`` are in ``etags``' parts plus ``tail``."""
        await self.save(upload, token, offset=offset, sha=sha, tail=tail, etags=etags)
        upload.offset, upload.sha, upload.tail, upload.etags = offset, sha, tail, list(etags)

    async def save(self, upload: TusUpload, token: str, **changes: Any) -> None:
        if not await self.state.save(upload.id, token, **changes):
            raise Locked("this upload's lock expired or was taken over; retry from HEAD's offset")

    # completion -----------------------------------------------------------------
    def pending(self, upload: TusUpload) -> PendingUpload:
        """The complete upload as ``FileStore.finish_upload`` takes it (same checks, same commit)."""
        filename = upload.meta.get("filename", "")
        sniffer = None
        if upload.offset < SNIFF_BYTES:
            sniffer = Sniffer(filename)
            sniffer.feed(upload.tail)
        return PendingUpload(
            store=self.files,
            form=self.form_of(upload.meta),
            original_filename=filename,
            name=upload.name,
            uploaded_at=upload.uploaded_at,
            content_type=upload.content_type,
            writer=TusWriter(self, upload),
            limit=self.settings.max_upload_size,  # type: ignore[arg-type]
            hasher=Sha256State(upload.sha),
            sniffer=sniffer,
            expected_sha256=upload.digest or None,
        )

    async def mark_done(self, upload: TusUpload, token: str, view: str) -> None:
        """Keep only the answer (GET) until the upload expires; the bytes are a stored file now."""
        await self.save(upload, token, result=view, tail=b"", sha=b"", upload_id="", etags=[])
        upload.result = view

    async def remove(self, upload: TusUpload) -> None:
        """Termination and cleanup: abort the multipart upload (its parts go) and drop the state."""
        if upload.upload_id:
            await self.parts.abort(upload.bucket, upload.key, upload.upload_id)
        await self.state.delete(upload.id)

    async def expire(self, now: float | None = None) -> int:
        """Remove every upload past its expiry (the worker's cron job); a locked one waits a round."""
        removed = 0
        for upload_id in await self.state.due(time.time() if now is None else now):
            token = await self.state.lock(upload_id)
            if token is None:
                continue
            upload = await self.state.load(upload_id, tail=False)
            if upload is None:
                await self.state.delete(upload_id)
            else:
                await self.remove(upload)
            removed += 1
        return removed


class TusWriter:
    """What ``PendingUpload.writer`` must offer, for bytes that are already in S3 parts."""

    def __init__(self, store: TusStore, upload: TusUpload) -> None:
        self.store, self.upload = store, upload
        self.size = upload.offset

    async def commit(self, choose_target, tags: dict[str, str] | None = None) -> ObjectInfo:
        upload, parts = self.upload, self.store.parts
        if not upload.upload_id:  # smaller than one part: a single conditional PutObject with its tags
            await self.store.objects.put_bytes(upload.bucket, upload.key, upload.tail, upload.content_type, tags)
            return ObjectInfo(upload.bucket, upload.key, self.size, tagged=bool(tags))
        etags = list(upload.etags)
        if upload.tail:
            etags.append(await parts.put_part(upload.bucket, upload.key, upload.upload_id, len(etags) + 1, upload.tail))
        await parts.complete(upload.bucket, upload.key, upload.upload_id, etags)
        return ObjectInfo(upload.bucket, upload.key, self.size)

    async def abort(self) -> None:
        if self.upload.upload_id:
            await self.store.parts.abort(self.upload.bucket, self.upload.key, self.upload.upload_id)
