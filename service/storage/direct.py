"""Direct transfers (README "Direct transfers"): clients move bytes to and from S3 with
presigned URLs, and Depot keeps every rule of a plain upload (design rule 9).

An upload is an S3 multipart upload at the file's final key; the client PUTs the parts with
URLs signed when it asks for them, then Depot completes it. The object then exists but is
invisible: every read, listing and stat goes through the manifest or the index, which only
``FileStore.finish_upload`` writes. A worker job (``verify``) streams the object once to hash
and sniff it, and on a match commits it through ``finish_upload`` (tags, manifest, index,
duplicate policy, event, ingestion) with a writer that says "already landed" — no copy. On any
mismatch or refusal the object is removed and the upload reports the error. State lives in
Redis (``direct_state``), so any API process or worker may continue an upload."""

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from service.domain.forms import UploadForm
from service.domain.jobs import VERIFY_DIRECT
from service.domain.sniff import Sniffer
from service.errors import Conflict, DependencyDown, DepotError, InvalidInput, NotFound, TooLarge
from service.settings import Settings
from service.storage.direct_state import ABORTED, FAILED, STORED, UPLOADING, VERIFYING, DirectState, DirectUpload
from service.storage.events import Emitter
from service.storage.files import FileStore, PendingUpload
from service.storage.objects import MAX_PARTS, ObjectInfo, ObjectStore, Presigner
from service.storage.queue import JobQueue

MAX_URLS = 100  # part URLs signed per request: a client asks again as it goes
DISABLED = "direct transfers are disabled on this server (DEPOT_DIRECT_TRANSFERS)"


def part_size_for(size: int, configured: int) -> int:
    """The configured part size, grown (in MiB steps) so that no file needs over 10 000 parts."""
    mib = 1024 * 1024
    return max(configured, math.ceil(size / MAX_PARTS / mib) * mib)


@dataclass
class Landed:
    """``PendingUpload.writer`` for bytes already in their object: commit has nothing to send."""

    info: ObjectInfo

    @property
    def size(self) -> int:
        return self.info.size

    async def commit(self, choose_target: Any = None, tags: dict[str, str] | None = None) -> ObjectInfo:
        return self.info

    async def abort(self) -> None:
        return None


class DirectStore:
    def __init__(
        self, files: FileStore, objects: ObjectStore, state: DirectState, queue: JobQueue, settings: Settings
    ) -> None:
        self.files, self.objects, self.state, self.queue, self.settings = files, objects, state, queue, settings
        self.parts = objects.multipart()
        self.presigner = Presigner(settings) if settings.direct_transfers else None

    def _signer(self) -> Presigner:
        if self.presigner is None:
            raise InvalidInput(DISABLED)
        return self.presigner

    def capabilities(self) -> dict[str, Any]:
        s = self.settings
        return {
            "enabled": s.direct_transfers,
            "max_size": s.max_upload_size,
            "part_size": s.direct_part_size,
            "max_urls": MAX_URLS,
            "url_expiry": s.presign_expiry_seconds,
        }

    # downloads -------------------------------------------------------------------
    def download_url(self, bucket: str, key: str, disposition: str, content_type: str) -> str:
        return self._signer().download(bucket, key, disposition, content_type)

    # uploads ---------------------------------------------------------------------
    def form_of(self, meta: dict[str, str]) -> UploadForm:
        """The upload form the declaration stands for, checked with POST /upload's rules."""
        return UploadForm.of(meta, self.settings.max_description_length, self.settings.max_metadata_bytes)

    async def create(self, upload_id: str, owner: str, meta: dict[str, str], size: int, sha256: str) -> DirectUpload:
        """Check the declaration as POST /upload checks its form, then open the multipart upload."""
        self._signer()  # 400 when direct transfers are off
        if size > self.settings.max_upload_size:
            raise TooLarge(f"file exceeds the upload limit of {self.settings.max_upload_size} bytes")
        pending = self.files.start_upload(self.form_of(meta), meta.get("filename"))  # name, type, category
        bucket, key = pending.target()
        part_size = part_size_for(size, self.settings.direct_part_size)
        upload = DirectUpload(
            id=upload_id,
            owner=owner,
            state=UPLOADING,
            meta={**meta, "filename": pending.original_filename},
            name=pending.name,
            uploaded_at=pending.uploaded_at,
            content_type=pending.content_type,
            size=size,
            sha256=sha256,
            part_size=part_size,
            parts=max(1, math.ceil(size / part_size)),
            bucket=bucket,
            key=key,
            upload_id="",
            expires=time.time() + self.settings.direct_expiry_seconds,
        )
        upload.upload_id = await self.parts.start(bucket, key, upload.content_type)
        try:
            await self.state.create(upload)
        except DepotError:
            await self.parts.abort(bucket, key, upload.upload_id)
            raise
        return upload

    async def get(self, upload_id: str, owner: str) -> DirectUpload:
        """The upload if it exists, has not expired and belongs to ``owner`` (else 404)."""
        upload = await self.state.load(upload_id)
        if upload is None or upload.owner != owner or upload.expires <= time.time():
            raise NotFound("no such direct upload")
        return upload

    def part_urls(self, upload: DirectUpload, numbers: list[int]) -> list[dict[str, Any]]:
        """Presigned PUT URLs for the parts asked for (signed now: a long upload never meets an expired one)."""
        signer = self._signer()
        if upload.state != UPLOADING:
            raise Conflict(f"the upload is {upload.state}: no more parts can be sent")
        if not numbers or len(numbers) > MAX_URLS:
            raise InvalidInput(f"ask for 1 to {MAX_URLS} part numbers at a time")
        for n in numbers:
            if not 1 <= n <= upload.parts:
                raise InvalidInput(f"part number {n} is out of range: this upload has parts 1 to {upload.parts}")
        urls = []
        for n in sorted(set(numbers)):
            size = self.part_length(upload, n)
            urls.append(
                {"number": n, "size": size, "url": signer.part(upload.bucket, upload.key, upload.upload_id, n, size)}
            )
        return urls

    @staticmethod
    def part_length(upload: DirectUpload, number: int) -> int:
        return upload.part_size if number < upload.parts else upload.size - upload.part_size * (upload.parts - 1)

    async def complete(self, upload: DirectUpload, etags: dict[int, str], sha256: str = "") -> None:
        """Make the object from the client's parts (still invisible) and queue its verification.
        ``sha256`` declares the hash here when the creation did not (a client that hashes as it sends)."""
        self._signer()
        if not (sha256 or upload.sha256):
            raise InvalidInput("declare the file's sha256 at creation or at completion")
        if sha256 and upload.sha256 and sha256 != upload.sha256:
            raise InvalidInput("sha256 differs from the one declared at creation")
        if sorted(etags) != list(range(1, upload.parts + 1)):
            raise InvalidInput(f"list every part from 1 to {upload.parts} once, with its ETag")
        declared = upload.sha256
        if not await self.state.move(upload, (UPLOADING,), VERIFYING, sha256=sha256 or declared):
            raise Conflict(f"the upload is {upload.state if upload.state != UPLOADING else 'being completed'}")
        try:
            await self.parts.complete(upload.bucket, upload.key, upload.upload_id, [etags[n] for n in sorted(etags)])
        except DependencyDown:
            await self.state.move(upload, (VERIFYING,), UPLOADING, sha256=declared)
            raise
        except DepotError as exc:  # S3 refused the list (a part missing, a wrong ETag, a part too small)
            await self.state.move(upload, (VERIFYING,), UPLOADING, sha256=declared)
            raise InvalidInput(f"S3 refused the parts: {exc.message}") from None
        size = await self.objects.head(upload.bucket, upload.key)
        if size != upload.size:
            error = f"S3 holds {size} bytes, not the {upload.size} declared"
            await self.fail(upload, error)
            raise InvalidInput(error)
        await self.state.move(
            upload, (VERIFYING,), VERIFYING, expires=time.time() + self.settings.direct_expiry_seconds
        )
        await self.queue.enqueue(VERIFY_DIRECT, upload.id, job_id=f"direct:{upload.id}")

    async def fail(self, upload: DirectUpload, error: str) -> None:
        """Remove the object and report ``error`` (kept until the upload expires)."""
        await self._remove(upload)
        await self.state.move(upload, (VERIFYING,), FAILED, error=error)

    async def abort(self, upload: DirectUpload) -> None:
        """DELETE: an unfinished upload's parts or object go (a verification under way loses);
        a stored file stays, only the record is forgotten."""
        if await self.state.move(upload, (UPLOADING, VERIFYING), ABORTED):
            await self.parts.abort(upload.bucket, upload.key, upload.upload_id)
            await self._remove(upload)
        await self.state.delete(upload.id)

    async def _remove(self, upload: DirectUpload) -> None:
        """Delete the (unverified) object; one left behind is reported by `depot verify` as an orphan."""
        try:
            await self.objects.delete(upload.bucket, [upload.key])
        except DepotError:
            pass

    # verification (the worker) -----------------------------------------------------
    async def verify(self, upload_id: str, emitter: Emitter) -> str:
        """Hash and sniff the object once, then commit it like POST /upload; returns the end state.
        ``DependencyDown`` before the commit is left to the job's retry."""
        upload = await self.state.load(upload_id)
        if upload is None or upload.state != VERIFYING:
            return upload.state if upload else "gone"
        hasher, sniffer, size = hashlib.sha256(), Sniffer(upload.meta.get("filename", "")), 0
        try:
            stream = await self.objects.open_read(upload.bucket, upload.key)
            try:
                async for chunk in stream.chunks:
                    sniffer.feed(chunk)
                    hasher.update(chunk)
                    size += len(chunk)
            finally:
                await stream.chunks.aclose()  # type: ignore[attr-defined]
            sniffer.finish(complete=True)
        except NotFound:
            await self.fail(upload, "the uploaded object is gone")
            return upload.state
        except InvalidInput as exc:  # not what its name says
            await self.fail(upload, exc.message)
            return upload.state
        if hasher.hexdigest() != upload.sha256 or size != upload.size:
            await self.fail(upload, f"the content's SHA-256 is {hasher.hexdigest()}, not the {upload.sha256} declared")
            return upload.state
        pending = PendingUpload(
            store=self.files,
            form=self.form_of(upload.meta),
            original_filename=upload.meta["filename"],
            name=upload.name,
            uploaded_at=upload.uploaded_at,
            content_type=upload.content_type,
            writer=Landed(ObjectInfo(upload.bucket, upload.key, size)),  # type: ignore[arg-type]
            limit=self.settings.max_upload_size,
            hasher=hasher,
            expected_sha256=upload.sha256,
        )
        try:
            record, event_id = await self.files.finish_upload(pending, emitter.log)
        except DepotError as exc:
            await self.fail(upload, exc.message)
            return upload.state
        expires = time.time() + self.settings.direct_expiry_seconds
        if not await self.state.move(upload, (VERIFYING,), STORED, result=record.upload_view(), expires=expires):
            await self.files.delete(record.path)  # aborted while we committed: a DELETE is final
            return ABORTED
        try:
            await emitter.process(record.path, event_id)
        except DepotError:
            pass  # stored and pending: the sweeper's requeue_lost queues its ingestion
        return STORED

    async def give_up(self, upload_id: str, error: str) -> str:
        """The verification's last try failed: the upload ends ``failed`` (object removed)."""
        upload = await self.state.load(upload_id)
        if upload is not None and upload.state == VERIFYING:
            await self.fail(upload, error)
        return upload.state if upload else "gone"

    async def expire(self, now: float | None = None) -> int:
        """Abort uploads past their expiry (parts and object go) and forget finished ones."""
        removed = 0
        for upload_id in await self.state.due(time.time() if now is None else now):
            upload = await self.state.load(upload_id)
            if upload is None:
                await self.state.delete(upload_id)
            else:
                await self.abort(upload)
            removed += 1
        return removed
