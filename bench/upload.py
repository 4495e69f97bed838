"""Scenario 1: one large file through Depot (curl -F) against boto3 ``upload_file``.

Both sides read the same file from the page cache and write to the same SeaweedFS.
The API's resident memory is sampled from /proc during every Depot transfer."""

import json
import os
import subprocess
import tarfile
from pathlib import Path

from bench.measure import MIB, Outcome, median, reset_peak_rss, timed
from bench.stack import DIRECT_BUCKET, RssSampler, Stack

RSS_LIMIT = 150 * MIB
RATIO_TARGET = 0.85


def make_file(path: Path, size: int) -> Path:
    """``size`` incompressible bytes on disk behind a tar header (Depot sniffs a .tar's first bytes)."""
    if path.exists() and path.stat().st_size == size:
        return path
    block = os.urandom(64 * MIB)
    header = tarfile.TarInfo("payload.bin")
    header.size = size - tarfile.BLOCKSIZE
    with open(path, "wb") as out:
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        for n in range(tarfile.BLOCKSIZE, size, len(block)):
            out.write((n.to_bytes(8, "big") + block[8:])[: size - n])
    return path


def curl_upload(url: str, path: Path, fields_first: bool = True) -> dict:
    """``curl -F`` exactly as the contract documents it; returns the stored file's record."""
    fields = ["-F", "purpose=training", "-F", "category=archive"]
    file = ["-F", f"file=@{path};filename={path.stem}.tar"]
    argv = ["curl", "-sS", "--fail-with-body", "-H", "Expect:", *(fields + file if fields_first else file + fields)]
    done = subprocess.run([*argv, f"{url}/api/v1/data/upload"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"upload failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return json.loads(done.stdout)["file"]


def depot_round(stack: Stack, path: Path, fields_first: bool = True) -> tuple[float, int, int]:
    """(seconds, sampled peak RSS, kernel VmHWM) of one upload through the API."""
    reset_peak_rss(stack.api.pid)
    stored: dict = {}
    with RssSampler(stack.api.pid) as rss:
        seconds = timed(lambda: stored.update(curl_upload(stack.api_url, path, fields_first)))
    if stored["size"] != path.stat().st_size:
        raise RuntimeError(f"stored {stored['size']} bytes of {path.stat().st_size}")
    delete = subprocess.run(
        ["curl", "-sS", "-f", "-X", "DELETE", f"{stack.api_url}/api/v1/data/files/{stored['path']}"],
        capture_output=True, check=False,
    )
    if delete.returncode != 0:
        raise RuntimeError(f"delete failed: {delete.stderr!r}")
    return seconds, rss.peak, rss.hwm


def direct_round(stack: Stack, path: Path) -> float:
    s3 = stack.client()
    seconds = timed(lambda: s3.upload_file(str(path), DIRECT_BUCKET, path.name))
    s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
    return seconds


def run(stack: Stack, sizes: list[tuple[int, int]], out: Outcome, control_size: int = 0) -> None:
    """``sizes``: (bytes, rounds). Each round runs Depot and direct, alternating which goes first;
    the ``control_size`` file also runs the relay controls."""
    for size, rounds in sizes:
        path = make_file(stack.workdir / f"upload-{size // MIB}MiB.bin", size)
        depot, direct, peaks, hwms = [], [], [], []
        for n in range(rounds):
            order = ("depot", "direct") if n % 2 == 0 else ("direct", "depot")
            for side in order:
                stack.wait_idle()
                if side == "depot":
                    seconds, peak, hwm = depot_round(stack, path)
                    depot.append(size / MIB / seconds)
                    peaks.append(peak)
                    hwms.append(hwm)
                else:
                    direct.append(size / MIB / direct_round(stack, path))
        label = f"{size // MIB} MiB"
        ratio = median(depot) / median(direct)
        out.note(f"{label}: Depot MiB/s {[round(v) for v in depot]}, direct MiB/s {[round(v) for v in direct]}")
        out.add(f"upload {label}: throughput ratio Depot/direct",
                f"{ratio:.2f} ({median(depot):.0f} vs {median(direct):.0f} MiB/s)",
                f">= {RATIO_TARGET}", ratio >= RATIO_TARGET)
        peak = max(max(peaks), max(hwms))
        out.add(f"upload {label}: API peak RSS", f"{peak / MIB:.0f} MiB (sampled {max(peaks) / MIB:.0f}, "
                f"VmHWM {max(hwms) / MIB:.0f})", "< 150 MiB", peak < RSS_LIMIT)
        if size == control_size:
            s3 = stack.client()
            presigned = s3.generate_presigned_url("put_object", Params={"Bucket": DIRECT_BUCKET, "Key": path.name})
            controls(stack, min(rounds, 3), out, f"upload {label}", median(direct), median(depot),
                     lambda url, *headers: curl_put(url, path, *headers), presigned, size)
            s3.delete_object(Bucket=DIRECT_BUCKET, Key=path.name)
        path.unlink()


def curl_put(url: str, path: Path, *headers: str) -> None:
    done = subprocess.run(["curl", "-sS", "-f", "-T", str(path), "-H", "Expect:", *headers, url],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"PUT failed: {done.stdout[-300:]} {done.stderr[-300:]}")


def controls(stack: Stack, rounds: int, out: Outcome, label: str, direct: float, depot: float,
             transfer, presigned: str, size: int) -> None:
    """curl straight to S3 (a presigned URL) and through a bare TCP relay (bench/relay.py),
    interleaved: what the client and one user-space hop cost on this machine, whatever the hop does."""
    relay = stack.start_relay()
    s3_base = stack.s3.url
    via_relay = presigned.replace(s3_base, relay, 1)
    host = ["-H", f"Host: {s3_base.removeprefix('http://')}"]  # the signature covers the Host header
    straight, relayed = [], []
    for n in range(rounds):
        for side in (("straight", "relay") if n % 2 == 0 else ("relay", "straight")):
            stack.wait_idle()
            if side == "straight":
                straight.append(size / MIB / timed(lambda: transfer(presigned)))
            else:
                relayed.append(size / MIB / timed(lambda: transfer(via_relay, *host)))
    out.note(f"{label} controls: curl straight to S3 MiB/s {[round(v) for v in straight]}, "
             f"through the bare relay {[round(v) for v in relayed]}")
    out.add(f"{label}, control: curl through a bare TCP relay / direct",
            f"{median(relayed) / direct:.2f} ({median(relayed):.0f} vs {direct:.0f} MiB/s; curl straight to S3 "
            f"{median(straight):.0f}; Depot {depot:.0f}, {depot / median(relayed):.2f} of the relay)")
    reference(out, label, median(straight), {"Depot": depot, "direct": direct, "relay": median(relayed)})


def reference(out: Outcome, label: str, straight: float, others: dict[str, float]) -> None:
    """The reference line of a streaming scenario: curl straight to S3, the limit on this machine."""
    shares = ", ".join(f"{name} {value / straight:.2f}" for name, value in others.items())
    out.add(f"{label}: reference, curl straight to S3", f"{straight:.0f} MiB/s; of it: {shares}")


def run_fields_after(stack: Stack, size: int, out: Outcome) -> None:
    """The contract's own curl order (file first, purpose after): informational, no target.

    The purpose decides the bucket, so a file larger than one part that arrives before its
    purpose is moved server-side once the purpose is known."""
    path = make_file(stack.workdir / f"upload-after-{size // MIB}MiB.bin", size)
    first, _, _ = depot_round(stack, path, fields_first=True)
    after, _, _ = depot_round(stack, path, fields_first=False)
    out.add(f"upload {size // MIB} MiB, purpose after the file (vs before)",
            f"{size / MIB / after:.0f} vs {size / MIB / first:.0f} MiB/s")
    path.unlink()
