"""Scenario: direct transfers (presigned S3 URLs) against the same transfers straight to S3.

- Upload: ``depot upload --direct``'s client (``service.client.direct``: hashes while it sends,
  8 parts in flight) against boto3 ``upload_file`` (its default: 8 MiB parts, 10 threads).
  The target is on the transfer (declaration to the 202 of /complete); the time until the worker
  has verified and committed the file (a second read of the object, inside S3's host) is shown too.
- Download: ``curl -L`` through the API's 307 (``?redirect=true``) against curl with a presigned
  URL straight to S3: the redirect's cost is one small request."""

import subprocess
import time
from pathlib import Path

from bench.download import curl_download
from bench.measure import MIB, Outcome, median, timed
from bench.stack import DIRECT_BUCKET, Stack
from bench.upload import curl_upload, make_file
from service.client.api import DepotClient
from service.client.config import ClientConfig
from service.client.direct import DirectClient, offer

RATIO_TARGET = 0.95


def direct_upload(stack: Stack, path: Path) -> tuple[float, float]:
    """(seconds to the 202 of /complete, seconds until stored) of one direct upload."""
    with DepotClient(ClientConfig(stack.api_url, None), timeout=300) as depot:
        client = DirectClient(depot, offer(depot))
        marks: list[float] = []
        wait = client._wait

        def stored(where: str) -> dict:
            marks.append(time.perf_counter())
            return wait(where)

        client._wait = stored  # type: ignore[method-assign]
        start = time.perf_counter()
        record = client.upload(path, path.stat().st_size, {"purpose": "training", "category": "archive"})
        end = time.perf_counter()
        depot.request("DELETE", f"/api/v1/data/files/{record['path']}")
    return marks[0] - start, end - start


def run(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    stack.start_api(direct_transfers="true")
    try:
        upload(stack, size, rounds, out)
        download(stack, size, rounds, out)
    finally:
        stack.start_api()


def upload(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    path = make_file(stack.workdir / f"direct-{size // MIB}MiB.tar", size)
    s3 = stack.client()
    sent, stored, straight = [], [], []
    for n in range(rounds):
        for side in ("depot", "s3") if n % 2 == 0 else ("s3", "depot"):
            stack.wait_idle()
            if side == "depot":
                transfer, total = direct_upload(stack, path)
                sent.append(size / MIB / transfer)
                stored.append(size / MIB / total)
            else:
                straight.append(size / MIB / timed(lambda: s3.upload_file(str(path), DIRECT_BUCKET, path.name)))
                s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
    path.unlink()
    label = f"{size // MIB} MiB"
    ratio = median(sent) / median(straight)
    out.note(
        f"direct upload {label}: sent MiB/s {[round(v) for v in sent]}, until stored "
        f"{[round(v) for v in stored]}, boto3 upload_file {[round(v) for v in straight]}"
    )
    out.add(
        f"direct upload {label}: ratio to boto3 upload_file",
        f"{ratio:.2f} ({median(sent):.0f} vs {median(straight):.0f} MiB/s)",
        f">= {RATIO_TARGET}",
        ratio >= RATIO_TARGET,
    )
    out.add(
        f"direct upload {label}: until verified and stored (worker reads it once more)",
        f"{median(stored) / median(straight):.2f} of boto3 ({median(stored):.0f} MiB/s)",
    )


def download(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    """Rounds are cheap here (a GiB from the page cache), so there are more of them: on a shared
    machine the spread between rounds is larger than the redirect's own cost."""
    path = make_file(stack.workdir / f"direct-get-{size // MIB}MiB.tar", size)
    stored = curl_upload(stack.api_url, path)
    s3 = stack.client()
    s3.upload_file(str(path), DIRECT_BUCKET, path.name)
    path.unlink()
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": DIRECT_BUCKET, "Key": path.name})
    redirect = f"{stack.api_url}/api/v1/data/files/{stored['path']}?redirect=true"
    via, straight, answers = [], [], []
    for n in range(2 * rounds + 1):
        for side in ("depot", "s3") if n % 2 == 0 else ("s3", "depot"):
            stack.wait_idle()
            if side == "depot":
                via.append(size / MIB / timed(lambda: curl_download(redirect, size, "-L")))
            else:
                straight.append(size / MIB / timed(lambda: curl_download(presigned, size)))
        answers.append(timed(lambda: curl_status(redirect)) * 1000)
    ratio = median(via) / median(straight)
    label = f"{size // MIB} MiB"
    out.note(
        f"redirect download {label}: curl -L via the 307 MiB/s {[round(v) for v in via]}, "
        f"curl straight to S3 {[round(v) for v in straight]}"
    )
    out.add(
        f"redirect download {label}: ratio to curl straight to S3",
        f"{ratio:.2f} ({median(via):.0f} vs {median(straight):.0f} MiB/s)",
        f">= {RATIO_TARGET}",
        ratio >= RATIO_TARGET,
    )
    out.add(
        "redirect download: the 307 answer alone (curl, new connection)",
        f"p50 {median(answers):.1f} ms (a {label} transfer takes {size / MIB / median(straight) * 1000:.0f} ms)",
    )
    s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
    with DepotClient(ClientConfig(stack.api_url, None)) as depot:
        depot.delete(stored["path"])


def curl_status(url: str) -> None:
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True, text=True, check=False
    )
    if done.stdout != "307":
        raise RuntimeError(f"expected a 307, got {done.stdout} {done.stderr}")
