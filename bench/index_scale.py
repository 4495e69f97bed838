"""Scenario "index": Redis memory per file, list/stats p95 and reindex cost as the file count grows.

Each size gets its own Redis prefix (and API process). Records are the listing bench's, made
realistic: user metadata and a parser summary (which stay in the manifest: the index keeps what
list pages need). The index is built with ``Index.rebuild``, as ``depot reindex`` does, and its
cost is the INFO ``used_memory`` delta. The reindex is ``depot reindex`` itself, run as its own
process over manifests written to SeaweedFS in bulk, timed and RSS-sampled."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import redis

from bench.listing import P95_TARGET, RATIO_TARGET, _write_manifests, make_record, queries
from bench.measure import MIB, Outcome, percentile
from bench.stack import RssSampler, Stack
from service.domain.records import FileRecord, Status
from service.settings import Settings
from service.storage.index import Index

BYTES_TARGET = 600
RSS_TARGET = 200 * MIB


def realistic(i: int) -> FileRecord:
    """The listing bench's i-th record after ingestion: user metadata and the parser's summary."""
    record = make_record(i)
    record.metadata = {"seq": i, "source": f"sensor-{i % 17}", "project": "depot-bench", "tags": ["raw", "2026"]}
    record.summary = {
        "kind": "table",
        "rows": 1000 + i % 5000,
        "columns": ["time", "value", "label"],
        "encoding": "utf-8",
    }
    record.status = (Status.done, Status.done, Status.done, Status.failed)[i % 4]
    record.error = "unreadable header" if record.status is Status.failed else None
    record.processed_at = record.uploaded_at
    return record


def records(total: int) -> Iterator[FileRecord]:
    return (realistic(i) for i in range(total))


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def index_bytes(settings: Settings, total: int) -> float:
    """Bytes of Redis per file once ``total`` files are indexed (used_memory delta)."""
    client = redis.Redis.from_url(settings.redis_url)
    before = used_memory(client)

    async def build() -> int:
        async with Index.open(settings.redis_url, settings.redis_prefix) as index:
            return await index.rebuild(records(total))

    if asyncio.run(build()) != total:
        raise RuntimeError("the index did not take every record")
    return (used_memory(client) - before) / total


def seed_manifests(settings: Settings, s3_url: str, total: int) -> float:
    """PUT ``total`` manifests from a generator (bounded memory); returns files per second."""
    start = time.perf_counter()
    if asyncio.run(_write_manifests(s3_url, settings, records(total))) != total:
        raise RuntimeError("not every manifest was written")
    return total / (time.perf_counter() - start)


def reindex(stack: Stack, prefix: str, total: int, out: Outcome) -> None:
    """Time and RSS-sample ``depot reindex`` over ``total`` manifests."""
    settings = stack.settings(bucket_prefix=prefix, redis_prefix=f"{prefix}:")
    for bucket in (settings.bucket("training"), settings.bucket("ingestion")):
        stack.client().create_bucket(Bucket=bucket)
    rate = seed_manifests(settings, stack.s3.url, total)
    out.note(f"wrote {total:,} manifests to SeaweedFS at {rate:.0f}/s")
    env = {**stack.env, "DEPOT_BUCKET_PREFIX": prefix, "DEPOT_REDIS_PREFIX": f"{prefix}:"}  # as `settings`
    client = redis.Redis.from_url(settings.redis_url)
    before, load_before = used_memory(client), os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "reindex"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    with RssSampler(process.pid, interval=0.1) as rss:
        stdout, _ = process.communicate()
    seconds = time.perf_counter() - start
    if process.returncode != 0 or stdout.decode().strip() != f"indexed {total} files":
        raise RuntimeError(f"reindex: {process.returncode} {stdout[:200]!r}")
    out.note(f"load average (1 min) {load_before:.1f} before the reindex, {os.getloadavg()[0]:.1f} after")
    out.add(f"reindex {total:,} manifests: wall time", f"{seconds:.0f} s ({total / seconds:.0f}/s)")
    grown = used_memory(client) - before
    out.add(
        f"reindex {total:,} manifests: Redis used_memory added", f"{grown / MIB:.0f} MiB ({grown / total:.0f} B/file)"
    )
    out.add(
        f"reindex {total:,} manifests: peak RSS",
        f"{max(rss.peak, rss.hwm) / MIB:.0f} MiB",
        "< 200 MiB",
        max(rss.peak, rss.hwm) < RSS_TARGET,
    )


def run(stack: Stack, sizes: list[int], reindex_size: int, samples: int, out: Outcome) -> None:
    urls: dict[int, str] = {}
    for total in sizes:
        settings = stack.settings(redis_prefix=f"ix{total}:")
        start = time.perf_counter()
        per_file = index_bytes(settings, total)
        out.note(f"indexed {total:,} files in {time.perf_counter() - start:.0f} s")
        target = total >= 100_000  # below that, per-key overheads dominate and do not matter
        out.add(
            f"Redis memory per file at {total:,}",
            f"{per_file:.0f} B",
            f"<= {BYTES_TARGET} B" if target else "",
            per_file <= BYTES_TARGET if target else None,
        )
        urls[total] = stack.spawn_api(redis_prefix=f"ix{total}:")[1]
    latencies: dict[tuple[int, str], list[float]] = {}
    with httpx.Client(timeout=30) as http:
        for total, url in urls.items():  # warm up and check the sets hold what we think
            if http.get(url + "/api/v1/data/stats").json()["stats"]["total_files"] != total:
                raise RuntimeError(f"the {total} set is not what was indexed")
        for _ in range(samples):
            for total, url in urls.items():
                for name, query in queries(total).items():
                    begin = time.perf_counter()
                    response = http.get(url + query)
                    latencies.setdefault((total, name), []).append(time.perf_counter() - begin)
                    if response.status_code != 200 or (name != "stats" and not response.json()["files"]):
                        raise RuntimeError(f"{query}: {response.status_code} {response.text[:200]}")
    smallest = min(sizes)
    for name in queries(smallest):
        p95 = {total: percentile(latencies[(total, name)], 95) for total in sizes}
        shown = " / ".join(f"{p95[t] * 1e3:.1f}" for t in sizes)
        out.add(
            f"{name}: p95 at {' / '.join(f'{t:,}' for t in sizes)}",
            f"{shown} ms",
            "p95 < 25 ms",
            max(p95.values()) < P95_TARGET,
        )
        ratio = p95[max(sizes)] / p95[smallest]
        out.add(
            f"{name}: p95 ratio {max(sizes):,} / {smallest:,}",
            f"{ratio:.2f}",
            f"< {RATIO_TARGET}",
            ratio < RATIO_TARGET,
        )
    if reindex_size:
        reindex(stack, f"rx{reindex_size}-", reindex_size, out)
