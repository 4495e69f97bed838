"""Scenario 2: many 4 KiB uploads from 32 concurrent clients against direct ``put_object``.

Both load generators are asyncio clients in this process with exactly ``concurrency``
requests in flight: aiohttp for Depot (the lightest HTTP client at hand, so the client
costs little of the two shared cores) and aioboto3 for S3."""

import asyncio
import os
import time

import aioboto3
import aiohttp
from botocore.config import Config

from bench.measure import Outcome, median, percentile
from bench.stack import DIRECT_BUCKET, Stack

RATIO_TARGET = 0.5
P99_TARGET = 0.100
BOUNDARY = "depotbenchboundary7d1f"


def form_body(data: bytes, name: str) -> bytes:
    """A multipart body with the fields first, as a browser or ``curl -F`` builds it."""
    fields = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in (("purpose", "ingestion"), ("category", "data"))
    )
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n").encode()
    return fields + head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


async def _drive(count: int, concurrency: int, send) -> tuple[float, list[float]]:
    """Run ``send(i)`` for i < count with ``concurrency`` in flight: (seconds, latencies)."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def client() -> None:
        for i in next_index:
            start = time.perf_counter()
            await send(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def depot_round(url: str, count: int, concurrency: int, tag: str) -> tuple[float, list[float]]:
    payload = os.urandom(2048).hex().encode()  # 4 KiB of text: Depot checks a .csv is text
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def send(i: int) -> None:
            body = form_body(payload, f"{tag}-{i}.csv")
            async with http.post(f"{url}/api/v1/data/upload", data=body, headers=headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"upload {i}: {response.status} {await response.text()}")
                await response.read()

        await _drive(concurrency, concurrency, send)  # open the connections
        return await _drive(count, concurrency, send)


async def direct_round(s3_url: str, count: int, concurrency: int, tag: str) -> tuple[float, list[float]]:
    payload = os.urandom(2048).hex().encode()
    config = Config(
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
        max_pool_connections=concurrency, s3={"addressing_style": "path"},
    )
    async with aioboto3.Session().client(
        "s3", endpoint_url=s3_url, aws_access_key_id="depot", aws_secret_access_key="depot-secret",
        region_name="us-east-1", config=config,
    ) as s3:

        async def send(i: int) -> None:
            await s3.put_object(Bucket=DIRECT_BUCKET, Key=f"small/{tag}/{i}.csv", Body=payload,
                                ContentType="text/csv")

        await _drive(concurrency, concurrency, send)
        return await _drive(count, concurrency, send)


def run(stack: Stack, count: int, concurrency: int, rounds: int, out: Outcome) -> None:
    """Interleaved rounds with the worker paused during Depot's (its queued jobs run after),
    then one informational Depot round with the worker running beside the API."""
    depot_rps, direct_rps, depot_lat, direct_lat, drains = [], [], [], [], []
    for n in range(rounds):
        order = ("depot", "direct") if n % 2 == 0 else ("direct", "depot")
        for side in order:
            stack.wait_idle()
            if side == "depot":
                with stack.worker_paused():
                    seconds, lat = asyncio.run(depot_round(stack.api_url, count, concurrency, f"r{n}"))
                depot_rps.append(count / seconds)
                depot_lat.append(lat)
                drains.append(stack.wait_idle())
            else:
                seconds, lat = asyncio.run(direct_round(stack.s3.url, count, concurrency, f"r{n}"))
                direct_rps.append(count / seconds)
                direct_lat.append(lat)
    stack.wait_idle()
    seconds, together = asyncio.run(depot_round(stack.api_url, count // 4, concurrency, "shared"))
    shared_drain = stack.wait_idle()
    ratio = median(depot_rps) / median(direct_rps)
    p99 = median([percentile(lat, 99) for lat in depot_lat])
    out.note(f"Depot req/s {[round(v) for v in depot_rps]}, direct req/s {[round(v) for v in direct_rps]}")
    out.note(f"Depot p50/p99 ms per round {_ms(depot_lat)}; direct {_ms(direct_lat)}")
    out.note(f"after each Depot round the worker needed {[round(v, 1) for v in drains]} s for the queued "
             "ingestion jobs (parse, status, events): about "
             f"{median(drains) / count * 1e3:.0f} ms of background work per 4 KiB file")
    out.add(f"{count} x 4 KiB, {concurrency} clients: req/s ratio",
            f"{ratio:.2f} ({median(depot_rps):.0f} vs {median(direct_rps):.0f} req/s)",
            f">= {RATIO_TARGET}", ratio >= RATIO_TARGET)
    out.add("small uploads: Depot p99 latency (median of rounds)",
            f"{p99 * 1e3:.0f} ms (p50 {median([percentile(v, 50) for v in depot_lat]) * 1e3:.0f} ms; "
            f"direct p99 {median([percentile(v, 99) for v in direct_lat]) * 1e3:.0f} ms)",
            "< 100 ms", p99 < P99_TARGET)
    out.add("small uploads with the worker parsing beside the API (one round)",
            f"{count // 4 / seconds:.0f} req/s over {count // 4} files, p99 {percentile(together, 99) * 1e3:.0f} ms "
            f"(then {shared_drain:.0f} s to drain)")


def _ms(rounds: list[list[float]]) -> list[tuple[int, int]]:
    return [(round(percentile(v, 50) * 1e3), round(percentile(v, 99) * 1e3)) for v in rounds]
