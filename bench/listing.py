"""Scenario 4: list pages and stats with 1,000 and with 100,000 indexed files.

Each set lives under its own bucket prefix and Redis prefix, served by its own API
process, so the two are measured interleaved, request by request, in the same minute.
Entries are real: each is a ``FileRecord`` whose JSON manifest sits at its key in S3
(written in bulk), indexed with ``Index.rebuild`` exactly as ``depot reindex`` does; the
smaller set is then rebuilt by ``depot reindex`` itself from what it reads back. Only the
file bodies are left out (list and stats never read them)."""

import asyncio
import hashlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
import httpx

from bench.measure import Outcome, percentile, timed
from bench.stack import Stack
from service.domain.categories import Purpose, category_for, content_type_for
from service.domain.naming import file_path, manifest_key, saved_name
from service.domain.records import FileRecord, format_time
from service.settings import Settings
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.objects import ObjectStore

P95_TARGET = 0.025
RATIO_TARGET = 1.5
EXTENSIONS = [".json", ".csv", ".txt", ".md", ".wav", ".mp3", ".tar", ".zip"]
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_record(i: int) -> FileRecord:
    """The i-th seeded file: both purposes, every category, one millisecond apart."""
    purpose = (Purpose.training, Purpose.ingestion)[i % 2]
    original = f"sample_{i}{EXTENSIONS[(i // 2) % len(EXTENSIONS)]}"
    moment = BASE_TIME + timedelta(milliseconds=i)
    name = saved_name(original, moment)
    category = category_for(original)
    return FileRecord(
        path=file_path(purpose, category, name), filename=name, original_filename=original,
        purpose=purpose, category=category, size=1024 + (i * 7919) % 1_000_000,
        hash=hashlib.sha256(str(i).encode()).hexdigest(), content_type=content_type_for(original),
        uploaded_at=format_time(moment), description=f"seeded file {i}", metadata={"seq": i},
    )


async def _write_manifests(
    s3_url: str, settings: Settings, records: Iterable[FileRecord], concurrency: int = 32
) -> int:
    """PUT each record's manifest at its real key, in bulk: a lean HTTP client, because
    the S3 SDK's own CPU per request would make 100,000 writes take most of the budget
    on two cores. The bench's SeaweedFS has no IAM configured, so plain PUTs are accepted.
    ``concurrency`` senders draw from one iterator, so a generator of a million records
    holds only the ones in flight. Returns how many were written."""
    pending = iter(records)
    written = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",)) as http:

        async def sender() -> None:
            nonlocal written
            for record in pending:  # one thread: each next() hands a record to one sender
                bucket = settings.bucket(record.purpose.value)
                key = manifest_key(record.category, record.filename)
                async with http.put(
                    f"{s3_url}/{bucket}/{key}", data=record.model_dump_json(indent=2).encode(),
                    headers={"Content-Type": "application/json", "If-None-Match": "*"},
                ) as response:
                    if response.status != 200:
                        raise RuntimeError(f"manifest {key}: {response.status} {await response.text()}")
                written += 1

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return written


async def _seed(s3_url: str, settings: Settings, total: int) -> int:
    records = [make_record(i) for i in range(total)]
    await _write_manifests(s3_url, settings, records)
    async with Index.open(settings.redis_url, settings.redis_prefix) as index:
        return await index.rebuild(records)  # what `depot reindex` does with the manifests it reads


def seed(s3_url: str, settings: Settings, total: int) -> float:
    """Seed ``total`` entries: manifests in S3, then the index built from the same records."""
    start = time.perf_counter()
    if asyncio.run(_seed(s3_url, settings, total)) != total:
        raise RuntimeError("the index did not take every record")
    return time.perf_counter() - start


async def _reindexed(settings: Settings) -> int:
    """Rebuild a set's index from its manifests with Depot's own reindex (proves they are real)."""
    async with ObjectStore.open(settings) as objects, Index.open(settings.redis_url, settings.redis_prefix) as index:
        return await FileStore(objects, index, settings).reindex()


def queries(total: int) -> dict[str, str]:
    deep = total - 100
    return {
        "first page": "/api/v1/data/files?limit=100",
        "deep page": f"/api/v1/data/files?limit=100&offset={deep}",
        "purpose filter": "/api/v1/data/files?purpose=training&limit=100",
        "purpose+category, deep": f"/api/v1/data/files?purpose=training&category=audio&limit=100&offset={max(0, total // 8 - 100)}",
        "category filter": "/api/v1/data/files?category=text&limit=100",
        "stats": "/api/v1/data/stats",
    }


def run(stack: Stack, sizes: tuple[int, int], samples: int, out: Outcome) -> None:
    small, large = sizes
    sets = {}
    for total in (small, large):
        prefix = f"bench{total}-"
        settings = stack.settings(bucket_prefix=prefix, redis_prefix=f"depot{total}:")
        _process, url = stack.spawn_api(bucket_prefix=prefix, redis_prefix=f"depot{total}:")
        seconds = seed(stack.s3.url, settings, total)
        out.note(f"seeded {total:,} entries (manifest in S3 + index entry) in {seconds:.0f} s "
                 f"({total / seconds:.0f}/s)")
        if total == small:
            counted: list[int] = []
            seconds = timed(lambda: counted.append(asyncio.run(_reindexed(settings))))
            if counted != [total]:
                raise RuntimeError(f"reindex found {counted} manifests, expected {total}")
            out.note(f"`depot reindex` read the {total:,} manifests back and rebuilt the index in {seconds:.1f} s")
        sets[total] = url
    latencies: dict[tuple[int, str], list[float]] = {}
    with httpx.Client(timeout=30) as http:
        for total, url in sets.items():  # check the sets are what we think, and warm up
            body = http.get(url + "/api/v1/data/stats").json()
            if body["stats"]["total_files"] != total:
                raise RuntimeError(f"expected {total} files, stats say {body['stats']['total_files']}")
            path = http.get(url + queries(total)["deep page"]).json()["files"][0]["path"]
            http.get(f"{url}/api/v1/data/files/{path}?metadata=true").raise_for_status()
        for _ in range(samples):
            for total, url in sets.items():
                for name, query in queries(total).items():
                    start = time.perf_counter()
                    response = http.get(url + query)
                    latencies.setdefault((total, name), []).append(time.perf_counter() - start)
                    if response.status_code != 200 or (name != "stats" and not response.json()["files"]):
                        raise RuntimeError(f"{query}: {response.status_code} {response.text[:200]}")
    for name in queries(small):
        lo, hi = latencies[(small, name)], latencies[(large, name)]
        p95_lo, p95_hi = percentile(lo, 95), percentile(hi, 95)
        ratio = p95_hi / p95_lo
        out.add(
            f"{name}: p50/p95 at {small:,} / {large:,}",
            f"{percentile(lo, 50) * 1e3:.1f}/{p95_lo * 1e3:.1f} ms / {percentile(hi, 50) * 1e3:.1f}/{p95_hi * 1e3:.1f} ms",
            "p95 < 25 ms", max(p95_lo, p95_hi) < P95_TARGET,
        )
        out.add(f"{name}: p95 ratio {large:,} / {small:,}", f"{ratio:.2f}", f"< {RATIO_TARGET}",
                ratio < RATIO_TARGET)
