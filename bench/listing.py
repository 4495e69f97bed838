"""Scenario 4: list pages and stats with 1,000 and with 100,000 indexed files.

Each set lives under its own bucket prefix and Redis prefix, served by its own API
process, so the two are measured interleaved, request by request, in the same minute.
Entries are seeded through the storage layer exactly as an upload finishes one: a real
manifest written to S3 with ``ObjectStore.put_bytes`` and the entry added with
``Index.add``. Only the file bodies are left out (list and stats never read them)."""

import asyncio
import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from bench.measure import Outcome, percentile
from bench.stack import Stack
from service.domain.categories import Purpose, category_for, content_type_for
from service.domain.naming import file_path, manifest_key, saved_name
from service.domain.records import FileRecord, format_time
from service.settings import Settings
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


async def _seed(env: dict[str, str], first: int, count: int, concurrency: int = 64) -> None:
    settings = Settings(**{k[6:].lower(): v for k, v in env.items() if k.startswith("DEPOT_")})  # as the API
    async with ObjectStore.open(settings) as objects, Index.open(settings.redis_url, settings.redis_prefix) as index:
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            record = make_record(i)
            async with slots:
                await objects.put_bytes(
                    settings.bucket(record.purpose.value), manifest_key(record.category, record.filename),
                    record.model_dump_json(indent=2).encode(), "application/json",
                )
                await index.add(record)

        await asyncio.gather(*(one(i) for i in range(first, first + count)))


def seed_chunk(env: dict[str, str], first: int, count: int) -> None:
    """One seeding process's share (a process per core: the S3 client costs CPU per call)."""
    asyncio.run(_seed(env, first, count))


def seed(env: dict[str, str], total: int, processes: int = 2) -> float:
    """Seed ``total`` entries using ``processes`` processes; returns the seconds it took."""
    start = time.perf_counter()
    share = -(-total // processes)
    with ProcessPoolExecutor(processes) as pool:
        futures = [pool.submit(seed_chunk, env, first, min(share, total - first))
                   for first in range(0, total, share)]
        for future in futures:
            future.result()
    return time.perf_counter() - start


def queries(total: int) -> dict[str, str]:
    deep = total - 100
    return {
        "first page": "/api/v1/data/files?limit=100",
        "deep page": f"/api/v1/data/files?limit=100&offset={deep}",
        "purpose filter": "/api/v1/data/files?purpose=training&limit=100",
        "purpose+category, deep": f"/api/v1/data/files?purpose=training&category=audio&limit=100&offset={total // 8 - 100}",
        "category filter": "/api/v1/data/files?category=text&limit=100",
        "stats": "/api/v1/data/stats",
    }


def run(stack: Stack, sizes: tuple[int, int], samples: int, out: Outcome) -> None:
    small, large = sizes
    sets = {}
    for total in (small, large):
        prefix = f"bench{total}-"
        env = {**stack.env, "DEPOT_BUCKET_PREFIX": prefix, "DEPOT_REDIS_PREFIX": f"depot{total}:"}
        _process, url = stack.spawn_api(bucket_prefix=prefix, redis_prefix=f"depot{total}:")
        seconds = seed(env, total, processes=min(2, os.cpu_count() or 1))
        out.note(f"seeded {total:,} entries (manifest in S3 + index entry) in {seconds:.0f} s "
                 f"({total / seconds:.0f}/s)")
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
            f"{name}: p50/p95 at {small // 1000}k | {large // 1000}k",
            f"{percentile(lo, 50) * 1e3:.1f}/{p95_lo * 1e3:.1f} | {percentile(hi, 50) * 1e3:.1f}/{p95_hi * 1e3:.1f} ms",
            "p95 < 25 ms", max(p95_lo, p95_hi) < P95_TARGET,
        )
        out.add(f"{name}: p95 ratio {large // 1000}k/{small // 1000}k", f"{ratio:.2f}", f"< {RATIO_TARGET}",
                ratio < RATIO_TARGET)
