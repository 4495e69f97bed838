"""Scenario: ingestion parses of ML data in the worker.

* A 1 GiB Parquet file: the parse reads its footer only (target: < 1% of its bytes). Counted
  by running the worker's own ``summarize`` on the stored object through a store that tallies
  every byte S3 returns; the real worker's time for the same file is shown too.
* A 1 GiB JSONL file of chat records: the real worker (paused while the file uploads, so the
  parse starts when the clock does) takes it from ``pending`` to ``done`` at ≥ 100 MiB/s with a
  peak RSS (sampled from /proc) under 200 MiB."""

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.measure import MIB, Outcome, reset_peak_rss
from bench.stack import RssSampler, Stack

WORDS = (
    "the of and to in is you that it was for on are as with they at be this have from or one had by "
    "word but not what all were we when your can said there use each which she do how their if will up "
    "other about out many then them these so some her would make like him into time has look two more "
    "write go see number no way could people my than first water been call who oil its now find long "
    "down day did get come made may part"
).split()


def make_jsonl(path: Path, size: int, seed: int = 3) -> Path:
    """OpenAI chat records (system + 1-4 user/assistant exchanges), about 1.7 KiB each."""
    rng = random.Random(seed)

    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    block = []
    for _ in range(4000):
        messages = [{"role": "system", "content": text(20)}]
        for _ in range(rng.randint(1, 4)):
            messages += [
                {"role": "user", "content": text(rng.randint(10, 80))},
                {"role": "assistant", "content": text(rng.randint(20, 150))},
            ]
        block.append(json.dumps({"messages": messages}).encode() + b"\n")
    chunk = b"".join(block)
    with path.open("wb") as out:
        written = 0
        while written + len(chunk) <= size:
            out.write(chunk)
            written += len(chunk)
        for line in block:
            if written + len(line) > size:
                break
            out.write(line)
            written += len(line)
    return path


def make_parquet(path: Path, size: int, group: int = 64 * MIB) -> Path:
    """Incompressible row groups (an id and a 1 KiB random binary column) adding up to ``size``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = group // 1024
    schema = pa.schema([("id", pa.int64()), ("blob", pa.binary(1024))])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for number in range(max(1, size // group)):
            blob = pa.FixedSizeBinaryArray.from_buffers(pa.binary(1024), rows, [None, pa.py_buffer(os.urandom(group))])
            ids = pa.array(range(number * rows, (number + 1) * rows), pa.int64())
            writer.write_table(pa.table({"id": ids, "blob": blob}, schema=schema))
    return path


def upload(url: str, path: Path, name: str) -> dict:
    argv = [
        "curl",
        "-sS",
        "--fail-with-body",
        "-H",
        "Expect:",
        "-F",
        "purpose=training",
        "-F",
        f"file=@{path};filename={name}",
        f"{url}/api/v1/data/upload",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"upload failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return json.loads(done.stdout)["file"]


def wait_processed(url: str, path: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            meta = http.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
            if meta["status"] in ("done", "failed"):
                return meta
            time.sleep(0.05)
    raise RuntimeError(f"{path} was not processed in {timeout} s")


def stored_paused(stack: Stack, path: Path, name: str) -> dict:
    """Upload with the worker stopped: its parse waits in the queue until ``parse_in_worker``."""
    stack.wait_idle()
    os.kill(stack.worker.pid, signal.SIGSTOP)
    try:
        return upload(stack.api_url, path, name)
    except BaseException:
        os.kill(stack.worker.pid, signal.SIGCONT)
        raise


def parse_in_worker(stack: Stack, file: dict) -> tuple[float, float, dict, RssSampler]:
    """(seconds from resuming the worker to ``done``, the worker's CPU seconds meanwhile, metadata,
    RSS sampler) of one queued parse."""
    reset_peak_rss(stack.worker.pid)
    worker = psutil.Process(stack.worker.pid)
    with RssSampler(stack.worker.pid, interval=0.01) as rss:
        cpu = sum(worker.cpu_times()[:2])
        start = time.perf_counter()
        os.kill(stack.worker.pid, signal.SIGCONT)
        meta = wait_processed(stack.api_url, file["path"])
        seconds = time.perf_counter() - start
        cpu = sum(worker.cpu_times()[:2]) - cpu
    if meta["status"] != "done":
        raise RuntimeError(f"{file['path']} failed: {meta['error']}")
    return seconds, cpu, meta, rss


def s3_read_rate(stack: Stack, file: dict) -> float:
    """Control: MiB/s of a plain boto3 read of the same object right now (what S3 can serve)."""
    body = stack.client().get_object(
        Bucket=stack.settings().bucket(file["purpose"]), Key=f"{file['category']}/{file['filename']}"
    )["Body"]
    start = time.perf_counter()
    for _ in body.iter_chunks(1024 * 1024):
        pass
    return file["size"] / MIB / (time.perf_counter() - start)


class CountingStore:
    """The worker's object store, tallying the bytes S3 returns to the parser."""

    def __init__(self, store: Any) -> None:
        self.store, self.bytes, self.requests = store, 0, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        data = await self.store.read_range(bucket, key, start, end)
        self.bytes += len(data)
        self.requests += 1
        return data


async def count_parse(stack: Stack, file: dict) -> tuple[float, int, int, dict]:
    """(seconds, bytes read, ranged GETs, summary) of the worker's parse function on a stored file."""
    from service.storage.objects import ObjectStore
    from service.workers.parsers import summarize

    settings = stack.settings()
    async with ObjectStore.open(settings) as objects:
        counting = CountingStore(objects)
        start = time.perf_counter()
        summary = await summarize(
            counting,
            settings.bucket(file["purpose"]),
            f"{file['category']}/{file['filename']}",
            file["filename"],
            file["size"],
            settings,
        )
        return time.perf_counter() - start, counting.bytes, counting.requests, summary


def run(stack: Stack, size: int, out: Outcome) -> None:
    work = stack.workdir / "parsing"
    work.mkdir(exist_ok=True)
    if stack.worker is None:
        stack.start_worker()

    # Parquet: bytes read by the parse
    source = make_parquet(work / "big.parquet", size)
    file = stored_paused(stack, source, "big.parquet")
    source.unlink()
    seconds, _, meta, _ = parse_in_worker(stack, file)
    took, read, requests, summary = asyncio.run(count_parse(stack, file))
    share = read / file["size"]
    out.add(
        f"Parquet {file['size'] / MIB:.0f} MiB: bytes read by the parse",
        f"{read / MIB:.2f} MiB ({share:.3%}, {requests} GETs)",
        "< 1%",
        share < 0.01,
    )
    out.add("Parquet: parse time (summarize / worker pending→done)", f"{took:.2f} s / {seconds:.2f} s")
    out.note(
        f"Parquet summary: rows {summary['rows']}, row groups {summary['row_groups']}, "
        f"compressed {summary['compressed_size']}, worker's summary rows {meta['summary']['rows']}"
    )
    stack.empty_bucket(stack.settings().bucket("training"))

    # JSONL: throughput and peak RSS in the worker
    source = make_jsonl(work / "chat.jsonl", size)
    file = stored_paused(stack, source, "chat.jsonl")
    source.unlink()
    seconds, cpu, meta, rss = parse_in_worker(stack, file)
    rate = file["size"] / MIB / seconds
    out.add(
        f"JSONL {file['size'] / MIB:.0f} MiB: worker pending→done",
        f"{seconds:.2f} s = {rate:.0f} MiB/s",
        "≥ 100 MiB/s",
        rate >= 100,
    )
    out.add("JSONL: worker CPU for it (MiB per CPU second)", f"{cpu:.2f} s = {file['size'] / MIB / cpu:.0f} MiB/s")
    out.add("JSONL control: boto3 read of the same object", f"{s3_read_rate(stack, file):.0f} MiB/s")
    out.note(f"load average during the scenario: {os.getloadavg()[0]:.1f} (2 cores)")
    out.add(
        "JSONL: worker peak RSS (sampled / VmHWM)",
        f"{rss.peak / MIB:.0f} / {rss.hwm / MIB:.0f} MiB",
        "< 200 MiB",
        max(rss.peak, rss.hwm) < 200 * MIB,
    )
    out.note(
        f"JSONL summary: {meta['summary']['records']} records, layout {meta['summary']['layout']}, "
        f"turns {meta['summary']['turns']}, layout errors {meta['summary']['layout_errors']}"
    )
    stack.empty_bucket(stack.settings().bucket("training"))
