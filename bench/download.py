"""Scenario 3: one large file downloaded through Depot against a direct ``get_object``.

Depot is read with curl (the contract's client); S3 with boto3 reading the body in
1 MiB chunks. Both discard the bytes."""

import subprocess

from bench.measure import MIB, Outcome, median, timed
from bench.stack import DIRECT_BUCKET, Stack
from bench.upload import controls, curl_upload, make_file

RATIO_TARGET = 0.85


def curl_download(url: str, size: int, *headers: str) -> None:
    done = subprocess.run(
        ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", *headers, url],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0 or int(done.stdout) != size:
        raise RuntimeError(f"download failed: {done.stdout} {done.stderr}")


def boto3_download(s3, key: str, size: int) -> None:
    body = s3.get_object(Bucket=DIRECT_BUCKET, Key=key)["Body"]
    got = sum(len(chunk) for chunk in body.iter_chunks(MIB))
    if got != size:
        raise RuntimeError(f"direct download got {got} of {size} bytes")


def run(stack: Stack, size: int, rounds: int, out: Outcome) -> None:
    path = make_file(stack.workdir / f"download-{size // MIB}MiB.bin", size)
    stored = curl_upload(stack.api_url, path)
    s3 = stack.client()
    s3.upload_file(str(path), DIRECT_BUCKET, path.name)
    path.unlink()
    url = f"{stack.api_url}/api/v1/data/files/{stored['path']}"
    depot, direct = [], []
    for n in range(rounds):
        order = ("depot", "direct") if n % 2 == 0 else ("direct", "depot")
        for side in order:
            stack.wait_idle()
            if side == "depot":
                depot.append(size / MIB / timed(lambda: curl_download(url, size)))
            else:
                direct.append(size / MIB / timed(lambda: boto3_download(s3, path.name, size)))
    ratio = median(depot) / median(direct)
    out.note(f"Depot MiB/s {[round(v) for v in depot]}, direct MiB/s {[round(v) for v in direct]}")
    out.add(f"download {size // MIB} MiB: throughput ratio Depot/direct",
            f"{ratio:.2f} ({median(depot):.0f} vs {median(direct):.0f} MiB/s)", f">= {RATIO_TARGET}",
            ratio >= RATIO_TARGET)
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": DIRECT_BUCKET, "Key": path.name})
    controls(stack, rounds, out, f"download {size // MIB} MiB", median(direct), median(depot),
             lambda url, *headers: curl_download(url, size, *headers), presigned, size)
    subprocess.run(["curl", "-sS", "-X", "DELETE", url], capture_output=True, check=False)
    s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
