"""Scenario 5: a sharded model imported from the fake Hugging Face Hub, against doing it by hand.

Depot: ``POST /v1/upload/huggingface`` and follow the task's ``Location`` until DONE (the
running worker streams the files into the models bucket). Direct: ``huggingface_hub``'s
``snapshot_download`` to a local directory, then boto3 ``upload_file`` per file. Each
round imports a repo of its own, so nothing is served from Depot's model cache."""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.measure import MIB, Outcome, median, timed
from bench.stack import DIRECT_BUCKET, Stack, free_port

RATIO_TARGET = 0.8
NOT_AVAILABLE = "not measured: model import not available"


def available(stack: Stack) -> bool:
    """The fake hub exists in this tree and the API offers Hugging Face imports."""
    if importlib.util.find_spec("tests.fakes.hf_hub") is None:
        return False
    paths = httpx.get(f"{stack.api_url}/schema/openapi.json", timeout=30).json().get("paths", {})
    return "/v1/upload/huggingface" in paths


def start_hub(stack: Stack, models: int, size: int, shards: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.hub", "--port", str(port), "--models", str(models),
         "--size", str(size), "--shards", str(shards)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    stack.children.append(process)
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"fake hub did not start: {line}{process.stdout.read()[-2000:]}")
    return process, f"http://127.0.0.1:{port}"


def depot_import(api_url: str, repo: str, timeout: float = 600) -> None:
    with httpx.Client(base_url=api_url, timeout=60) as http:
        response = http.post("/v1/upload/huggingface", json={"model_tag": repo, "revision": "main"})
        if response.status_code != 201:
            raise RuntimeError(f"import {repo}: {response.status_code} {response.text[:300]}")
        location = response.headers["location"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = http.get(location).json()
            if task["task_status"] == "DONE":
                return
            if task["task_status"] == "FAILED":
                raise RuntimeError(f"import {repo} failed: {task.get('error_msg')}")
            time.sleep(0.1)
    raise RuntimeError(f"import {repo} did not finish in {timeout} s")


def direct_import(stack: Stack, hub_url: str, repo: str, workdir: Path) -> None:
    from huggingface_hub import snapshot_download

    local = Path(snapshot_download(repo_id=repo, revision="main", endpoint=hub_url, local_dir=workdir / repo,
                                   token=False))
    s3 = stack.client()
    for path in sorted(p for p in local.rglob("*") if p.is_file() and ".cache" not in p.parts):
        s3.upload_file(str(path), DIRECT_BUCKET, f"models/{repo}/{path.relative_to(local)}")
    shutil.rmtree(workdir / repo)


def run(stack: Stack, size: int, shards: int, rounds: int, out: Outcome) -> None:
    label = f"model import {size // MIB} MiB in {shards} shards"
    if not available(stack):
        out.add(label, NOT_AVAILABLE, f">= {RATIO_TARGET}", None)
        return
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_HOME"] = str(stack.workdir / "hf-home")
    _hub, hub_url = start_hub(stack, 2 * rounds, size, shards)
    stack.env["DEPOT_HF_ENDPOINT"] = hub_url
    stack.restart_worker()
    stack.start_api()
    depot, direct = [], []
    for n in range(rounds):
        order = ("depot", "direct") if n % 2 == 0 else ("direct", "depot")
        for side in order:
            stack.wait_idle()
            repo = f"bench/model-{2 * n + (side == 'direct')}"
            if side == "depot":
                depot.append(size / MIB / timed(lambda: depot_import(stack.api_url, repo)))
            else:
                direct.append(size / MIB / timed(lambda: direct_import(stack, hub_url, repo, stack.workdir)))
    ratio = median(depot) / median(direct)
    out.note(f"Depot MiB/s {[round(v) for v in depot]}, direct (download + put) MiB/s {[round(v) for v in direct]}")
    out.add(f"{label}: throughput ratio", f"{ratio:.2f} ({median(depot):.0f} vs {median(direct):.0f} MiB/s)",
            f">= {RATIO_TARGET}", ratio >= RATIO_TARGET)
