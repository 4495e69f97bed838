"""Stored data files: the upload sequence, reads, deletes, listing and reindex.

An upload becomes visible only when every step has succeeded, in this order:
object (conditional create) → tags → manifest (conditional create) → index entry.
Any failure undoes the steps already taken, so nothing is ever half-visible."""

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from service.domain.categories import Category, Purpose, content_type_for
from service.domain.events import FileUploaded
from service.domain.forms import UploadForm
from service.domain.naming import (
    MANIFEST_SUFFIX, check_original_filename, file_path, manifest_key, object_key,
    parse_file_path, saved_name,
)
from service.domain.records import FileRecord, Status, format_time, utc_now
from service.domain.sniff import Sniffer
from service.errors import Conflict, DepotError, DigestMismatch, NotFound, TooLarge
from service.settings import Settings
from service.storage.events import EventLog
from service.storage.index import Index
from service.storage.objects import ObjectInfo, ObjectStore, ObjectWriter


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

    def bucket_for(self, purpose: Purpose) -> str:
        return self.settings.bucket(purpose.value)

    def buckets(self) -> list[str]:
        return [self.bucket_for(p) for p in Purpose]

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
        """Rewrite the manifest of a stored file (its metadata evolved after the upload)."""
        await self.objects.replace_bytes(
            self.bucket_for(record.purpose), manifest_key(record.category, record.filename),
            record.model_dump_json(indent=2).encode(), "application/json",
        )

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
        brings back the manifest of a deleted file."""
        bucket, key = self.location(record)
        if await self.objects.head(bucket, key) is None:
            raise NotFound(f"{record.path}: deleted while processing")
        await self._replace_manifest(record)
        await self.objects.set_tags(bucket, key, self.tags_of(record))
        await self.index.set_status(record)

    # read ---------------------------------------------------------------------
    async def record(self, path: str) -> FileRecord:
        """The manifest of a stored file (S3 is the truth); 403 for a bad path, 404 if absent."""
        purpose, category, name = parse_file_path(path)
        data = await self.objects.get_json(self.bucket_for(purpose), manifest_key(category, name))
        return FileRecord.model_validate(data)

    def location(self, record: FileRecord) -> tuple[str, str]:
        return self.bucket_for(record.purpose), object_key(record.category, record.filename)

    async def delete(self, path: str) -> tuple[Purpose, Category, str]:
        """Delete object, manifest and index entry; the manifest goes first so a crash
        midway leaves at most an invisible orphan object, never a visible broken file.
        Returns the file's purpose, category and canonical path."""
        purpose, category, name = parse_file_path(path)
        path = file_path(purpose, category, name)  # canonical: no leading slash
        indexed = await self.index.get(path)
        bucket = self.bucket_for(purpose)
        try:
            await self.objects.get_json(bucket, manifest_key(category, name))
        except NotFound:
            if indexed is None:
                raise
        await self.objects.delete(bucket, [manifest_key(category, name), object_key(category, name)])
        await self.index.remove(purpose, category, path)
        return purpose, category, path

    # index --------------------------------------------------------------------
    async def page(
        self, purpose: Purpose | None, category: Category | None, limit: int, offset: int,
        status: Status | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        return await self.index.page(purpose, category, limit, offset, status)

    async def stats(self) -> dict[str, Any]:
        return await self.index.stats()

    async def manifests(self) -> list[FileRecord]:
        """Every manifest in every purpose bucket, read concurrently."""
        slots = asyncio.Semaphore(32)

        async def load(bucket: str, key: str) -> FileRecord | None:
            async with slots:
                try:
                    return FileRecord.model_validate(await self.objects.get_json(bucket, key))
                except (NotFound, ValueError):
                    return None

        tasks = [
            load(bucket, key)
            for bucket in self.buckets()
            async for key in self.objects.iter_keys(bucket, MANIFEST_SUFFIX)
        ]
        return [r for r in await asyncio.gather(*tasks) if r is not None]

    async def reindex(self) -> int:
        """Rebuild the Redis index from the manifests in S3."""
        return await self.index.rebuild(await self.manifests())

