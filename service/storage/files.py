"""Stored data files: the upload sequence, reads, deletes, listing and reindex.

An upload becomes visible only when every step has succeeded, in this order:
object (conditional create) → tags → manifest (conditional create) → index entry.
Any failure undoes the steps already taken, so nothing is ever half-visible."""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.domain.categories import Category, Purpose, content_type_for
from service.domain.events import FileUploaded
from service.domain.forms import UploadForm
from service.domain.naming import (
    MANIFEST_SUFFIX,
    check_original_filename,
    file_path,
    manifest_key,
    object_key,
    parse_file_path,
    saved_name,
)
from service.domain.records import FileRecord, Status, format_time, utc_now
from service.domain.sniff import Sniffer
from service.errors import Conflict, DepotError, DigestMismatch, NotFound, TooLarge
from service.settings import Settings
from service.storage.events import EventLog
from service.storage.index import Index
from service.storage.objects import ObjectInfo, ObjectStore, ObjectStream, ObjectWriter
from service.storage.reader import ObjectReader
from service.storage.tombstones import Claim


@dataclass
class PendingUpload:
    """One file being received: hashed and size-checked as bytes pass."""

    store: "FileStore"
    form: UploadForm
    original_filename: str
    name: str
    uploaded_at: str
    content_type: str
    writer: ObjectWriter
    limit: int
    hasher: Any = field(default_factory=hashlib.sha256)
    sniffer: Sniffer | None = None
    landed: ObjectInfo | None = None  # set when committed early (a batch commits each file as it ends)
    expected_sha256: str | None = None  # declared by the client (Repr-Digest): checked before the commit

    @property
    def size(self) -> int:
        return self.writer.size

    async def write(self, chunk: bytes) -> None:
        if self.writer.size + len(chunk) > self.limit:
            raise TooLarge(f"file exceeds the upload limit of {self.limit} bytes")
        if self.sniffer is not None:
            self.sniffer.feed(chunk)  # content check on the first bytes, before they can land
        self.hasher.update(chunk)
        await self.writer.write(chunk)

    def target(self) -> tuple[str, str]:
        """Where the bytes go, from what the form says so far."""
        return self.store.bucket_for(self.form.purpose), object_key(
            self.form.category_of(self.original_filename), self.name
        )

    def end(self) -> None:
        """The file part is complete: check a file shorter than the sniff window."""
        if self.sniffer is not None:
            self.sniffer.finish(complete=True)

    async def land(self) -> None:
        """Commit the bytes now to the target known so far (moved later if the purpose changes)."""
        self.end()
        if self.landed is None:
            self.landed = await self.writer.commit(self.target)

    async def abort(self) -> None:
        await self.writer.abort()
        if self.landed is not None:
            landed, self.landed = self.landed, None
            await asyncio.shield(self.store._undo([landed]))


class FileStore:
    def __init__(self, objects: ObjectStore, index: Index, settings: Settings) -> None:
        self.objects = objects
        self.index = index
        self.settings = settings
        self.reader = ObjectReader(objects)  # ranged reads for the ingestion parsers

    def bucket_for(self, purpose: Purpose) -> str:
        return self.settings.bucket(purpose.value)

    def buckets(self) -> list[str]:
        return [self.bucket_for(p) for p in Purpose]

    async def ensure_buckets(self) -> None:
        """Create the purpose buckets if missing (start-up, readiness): S3 answers."""
        await self.objects.ensure_buckets(self.buckets())

    async def ping(self) -> None:
        """The index answers (the upload pre-check and readiness); ``DependencyDown`` if not."""
        await self.index.ping()

    # upload -------------------------------------------------------------------
    def start_upload(self, form: UploadForm, raw_filename: str | None) -> PendingUpload:
        """Validate the file's name and type before a single byte is stored."""
        original = check_original_filename(raw_filename)
        form.category_of(original)
        now = utc_now()
        pending = PendingUpload(
            store=self, form=form, original_filename=original, name=saved_name(original, now),
            uploaded_at=format_time(now), content_type=content_type_for(original),
            writer=None, limit=self.settings.max_upload_size,  # type: ignore[arg-type]
            sniffer=Sniffer(original),
        )
        pending.writer = self.objects.writer(pending.content_type, pending.target)
        return pending

    async def finish_upload(self, pending: PendingUpload, events: EventLog) -> tuple[FileRecord, str | None]:
        """Commit a fully received file; on any failure nothing of it remains. Its ``file.uploaded``
        event is recorded in the same step as the index entry; returns the record and that event's id."""
        form = pending.form
        purpose, category = form.purpose, form.category_of(pending.original_filename)
        record = FileRecord(
            path=file_path(purpose, category, pending.name),
            filename=pending.name,
            original_filename=pending.original_filename,
            purpose=purpose,
            category=category,
            size=pending.size,
            hash=pending.hasher.hexdigest(),
            content_type=pending.content_type,
            uploaded_at=pending.uploaded_at,
            description=form.description,
            metadata=form.metadata,
        )
        pending.end()
        if pending.expected_sha256 is not None and record.hash != pending.expected_sha256:
            raise DigestMismatch(f"the content's SHA-256 is {record.hash}, not the one declared in Repr-Digest")
        record.duplicate_of = await self.index.first_with_hash(purpose, record.hash)
        reject = self.settings.duplicates == "reject"
        if reject and record.duplicate_of:
            raise Conflict(f"this content is already stored as {record.duplicate_of}")
        bucket, key = pending.target()
        landed = pending.landed or await pending.writer.commit(pending.target, self.tags_of(record))
        pending.landed = None  # from here on, undone below
        written: list[ObjectInfo] = [landed]
        try:
            moved = (landed.bucket, landed.key) != (bucket, key)
            if moved:
                # A large file whose purpose arrived after it: move it server-side.
                await self.objects.copy(landed, bucket, key)
                written.append(ObjectInfo(bucket, key, landed.size))
                await self.objects.delete(landed.bucket, [landed.key])
                written.remove(landed)
            if moved or not landed.tagged:  # a small file got its tags with its bytes
                await self.objects.set_tags(bucket, key, self.tags_of(record))
            manifest = record.model_dump_json(indent=2).encode()
            # Listed before the write: a write whose answer was lost may still have landed.
            written.append(ObjectInfo(bucket, manifest_key(category, pending.name), 0))
            try:
                await self.objects.put_bytes(bucket, manifest_key(category, pending.name), manifest, "application/json")
            except Conflict:  # the SDK retried a write that had landed: fine if it is ours
                if await self.objects.get_json(bucket, manifest_key(category, pending.name)) != json.loads(manifest):
                    raise
            event = events.entry(FileUploaded.of(record, description=record.description,
                                                 duplicate_of=record.duplicate_of))
            # Atomic: a twin gets 409 (with reject), and an indexed file always has its event.
            _, twin, event_id = await self.index.add_file(record, reject_duplicate=reject, event=event)
        except BaseException:
            await asyncio.shield(self._undo(written))
            raise
        if twin and record.duplicate_of is None:
            await self._mark_duplicate(record, twin)
        return record, event_id

    async def _mark_duplicate(self, record: FileRecord, twin: str) -> None:
        """A concurrent twin was indexed between our lookup and ours: record it (metadata only)."""
        record.duplicate_of = twin
        try:
            await self._replace_manifest(record)
        except DepotError:
            pass  # the file is stored and indexed; only the duplicate mark is missing

    async def _replace_manifest(self, record: FileRecord) -> None:
        """Rewrite the manifest of a stored file (its metadata evolved after the upload).

        A delete may land at any moment (tombstones.py): refused once the file is claimed, and a
        write that raced the claim is removed again here (``NotFound`` either way)."""
        await self._check_alive(record)
        bucket, key = self.bucket_for(record.purpose), manifest_key(record.category, record.filename)
        await self.objects.replace_bytes(bucket, key, record.model_dump_json(indent=2).encode(), "application/json")
        await self._check_alive(record)

    async def _check_alive(self, record: FileRecord) -> None:
        """``NotFound`` when a DELETE claimed the file; its keys are removed again first, since
        the caller may have written one after the DELETE removed them."""
        if await self.index.buried(record.path):
            bucket, key = self.location(record)
            await self.objects.delete(bucket, [manifest_key(record.category, record.filename), key])
            raise NotFound(f"{record.path}: deleted")

    async def _undo(self, written: list[ObjectInfo]) -> None:
        for info in written:
            try:
                await self.objects.delete(info.bucket, [info.key])
            except DepotError:
                pass  # reported by `depot reindex` as an orphan

    @staticmethod
    def tags_of(record: FileRecord) -> dict[str, str]:
        return {"purpose": record.purpose.value, "category": record.category.value, "sha256": record.hash,
                "status": record.status.value}

    async def save_status(self, record: FileRecord) -> None:
        """Record a processing status change: manifest (the truth) → tag → index entry.

        Refuses (``NotFound``) when the file was deleted meanwhile, so a late job never
        brings back anything of a deleted file: the manifest write is checked against the
        tombstone (``_replace_manifest``), a tag write cannot create an object, and the index
        script only updates an entry that still exists."""
        bucket, key = self.location(record)
        if await self.objects.head(bucket, key) is None:
            raise NotFound(f"{record.path}: deleted while processing")
        await self._replace_manifest(record)
        await self.objects.set_tags(bucket, key, self.tags_of(record))
        if not await self.index.set_status(record):
            await self._check_alive(record)

    # read ---------------------------------------------------------------------
    async def record(self, path: str) -> FileRecord:
        """The manifest of a stored file (S3 is the truth); 403 for a bad path, 404 if absent."""
        purpose, category, name = parse_file_path(path)
        data = await self.objects.get_json(self.bucket_for(purpose), manifest_key(category, name))
        return FileRecord.model_validate(data)

    def location(self, record: FileRecord) -> tuple[str, str]:
        return self.bucket_for(record.purpose), object_key(record.category, record.filename)

    async def open(self, record: FileRecord, start: int = 0, end: int | None = None) -> ObjectStream:
        """Open a download of the file's bytes ``start..end`` (inclusive); the body streams in chunks."""
        bucket, key = self.location(record)
        return await self.objects.open_read(bucket, key, start, end)

    async def delete(self, path: str) -> tuple[Purpose, Category, str]:
        """Delete a file for good: claim its tombstone and unindex it (one atomic step, so of
        concurrent DELETEs exactly one wins and the others get 404), then remove manifest and
        object. Returns the file's purpose, category and canonical path."""
        purpose, category, name = parse_file_path(path)
        path = file_path(purpose, category, name)  # canonical: no leading slash
        bucket, gone = self.bucket_for(purpose), self.index.gone_key(path)
        claim = await self.index.claim_delete(purpose, category, path)
        keys = [manifest_key(category, name), object_key(category, name)]
        if claim is Claim.LOST:  # deleted by another DELETE; what a killed writer put back goes too
            await self.objects.delete(bucket, keys)
            raise NotFound(f"{path} not found")
        try:
            if claim is not Claim.INDEXED and await self.objects.head(bucket, manifest_key(category, name)) is None:
                if claim is Claim.FRESH:  # nothing was there: leave no tombstone behind
                    await self.index.tombstones.release(gone)
                    raise NotFound(f"{path} not found")
            await self.objects.delete(bucket, keys)
        except NotFound:
            raise
        except BaseException:
            await asyncio.shield(self._retry_later(gone))
            raise
        await self.index.tombstones.finish(gone)
        return purpose, category, path

    async def _retry_later(self, gone: str) -> None:
        try:
            await self.index.tombstones.retry(gone)
        except DepotError:
            pass  # the claim's lease lapses and the next DELETE takes over

    # index --------------------------------------------------------------------
    async def page(
        self, purpose: Purpose | None, category: Category | None, limit: int, offset: int,
        status: Status | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        return await self.index.page(purpose, category, limit, offset, status)

    async def purge_deleted(self) -> int:
        """Remove again the S3 keys of every file deleted within the tombstones' lifetime: closes
        the one gap of the write-then-recheck rule, a writer killed between the two. Saved names
        are never reused, so this can only remove what was deleted. Returns the keys asked for."""
        batches: dict[str, list[str]] = {}
        sent = 0
        async for path in self.index.buried_paths():
            try:
                purpose, category, name = parse_file_path(path)
            except DepotError:
                continue
            batch = batches.setdefault(self.bucket_for(purpose), [])
            batch += [manifest_key(category, name), object_key(category, name)]
            if len(batch) >= 1000:
                await self.objects.delete(self.bucket_for(purpose), batch)
                sent, batch[:] = sent + len(batch), []
        for bucket, batch in batches.items():
            if batch:
                await self.objects.delete(bucket, batch)
                sent += len(batch)
        return sent

    async def deleted(self, path: str) -> bool:
        """True once a DELETE claimed ``path``: a background job must not announce it."""
        return await self.index.buried(path)

    async def abort_uploads_begun_before(self, before: datetime) -> list[str]:
        """Abort the multipart uploads begun before ``before`` in the purpose buckets (a killed
        writer's); returns them as ``<bucket>/<key>``."""
        aborted = []
        for bucket in self.buckets():
            aborted += [f"{bucket}/{key}" for key in await self.objects.abort_stale_uploads(bucket, before)]
        return aborted

    def stale_pending(self, uploaded_before: datetime) -> AsyncIterator[str]:
        """Paths of files still waiting for ingestion that were stored before ``uploaded_before``."""
        return self.index.pending_before(uploaded_before)

    async def stats(self, only: Purpose | None = None) -> dict[str, Any]:
        return await self.index.stats(only)

    async def manifests(self, page: int = 1000, concurrency: int = 32) -> AsyncIterator[FileRecord]:
        """Every manifest in every purpose bucket: keys a listing page at a time, each page's
        manifests read ``concurrency`` at a time, so memory holds one page whatever the count."""
        slots = asyncio.Semaphore(concurrency)

        async def load(bucket: str, key: str) -> FileRecord | None:
            async with slots:
                try:
                    return FileRecord.model_validate(await self.objects.get_json(bucket, key))
                except (NotFound, ValueError):
                    return None

        for bucket in self.buckets():
            keys: list[str] = []
            async for key in self.objects.iter_keys(bucket, MANIFEST_SUFFIX):
                keys.append(key)
                if len(keys) >= page:
                    for record in await asyncio.gather(*(load(bucket, k) for k in keys)):
                        if record is not None:
                            yield record
                    keys = []
            for record in await asyncio.gather(*(load(bucket, k) for k in keys)):
                if record is not None:
                    yield record

    async def reindex(self, page: int = 1000) -> int:
        """Rebuild the Redis index from the manifests in S3, beside the live one (``Index.rebuild``)."""
        return await self.index.rebuild(self.manifests(page), batch=min(page, 500))
