"""``depot verify``: re-hash every stored file against its manifest and report drift.

Objects are streamed in 1 MiB chunks through SHA-256, a few at a time, and the bucket listing
is read a page at a time, so memory stays bounded whatever the file sizes and counts. Drift is: a hash or size that differs from the manifest,
a manifest whose object is missing, an unreadable manifest, or an object with no manifest
(an orphan a failed cleanup left; invisible to clients, reported so it can be removed)."""

import asyncio
import hashlib
from dataclasses import dataclass, field

from service.domain.naming import MANIFEST_SUFFIX
from service.domain.records import FileRecord
from service.errors import NotFound
from service.storage.files import FileStore


@dataclass
class Report:
    checked: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    open_uploads: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.problems)


async def verify(files: FileStore, concurrency: int = 4, page: int = 1000) -> Report:
    report = Report()
    slots = asyncio.Semaphore(concurrency)

    async def check(bucket: str, manifest: str) -> None:
        async with slots:
            where = f"{bucket}/{manifest}"
            try:
                record = FileRecord.model_validate(await files.objects.get_json(bucket, manifest))
            except (NotFound, ValueError) as exc:
                report.problems.append(f"{where}: unreadable manifest ({exc})")
                return
            obj_bucket, key = files.location(record)
            hasher, size = hashlib.sha256(), 0
            try:
                if record.size:
                    stream = await files.objects.open_read(obj_bucket, key)
                    async for chunk in stream.chunks:
                        hasher.update(chunk)
                        size += len(chunk)
                elif await files.objects.head(obj_bucket, key) is None:
                    raise NotFound(key)
            except NotFound:
                report.problems.append(f"{record.path}: object missing")
                return
            report.checked += 1
            report.bytes += size
            if size != record.size:
                report.problems.append(f"{record.path}: size {size} != manifest {record.size}")
            elif hasher.hexdigest() != record.hash:
                report.problems.append(f"{record.path}: sha256 {hasher.hexdigest()} != manifest {record.hash}")

    for bucket in files.buckets():
        # Keys come sorted, a listing page at a time: manifests are checked a page at a time, and
        # an object is an orphan once the listing has passed where its manifest would sort.
        waiting: set[str] = set()
        manifests: list[str] = []
        async for key in files.objects.iter_keys(bucket):
            if key.endswith(MANIFEST_SUFFIX):
                waiting.discard(key.removesuffix(MANIFEST_SUFFIX))
                manifests.append(key)
                if len(manifests) >= page:
                    await asyncio.gather(*(check(bucket, m) for m in manifests))
                    manifests = []
            else:
                waiting.add(key)
            passed = {w for w in waiting if w + MANIFEST_SUFFIX < key}
            report.problems += [f"{bucket}/{w}: object without manifest (orphan)" for w in passed]
            waiting -= passed
        await asyncio.gather(*(check(bucket, m) for m in manifests))
        report.problems += [f"{bucket}/{w}: object without manifest (orphan)" for w in waiting]
        report.open_uploads += [f"{bucket}/{k}" for k in await files.objects.open_multipart_uploads(bucket)]
    report.problems.sort()
    return report
