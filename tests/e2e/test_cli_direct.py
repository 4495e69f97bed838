"""``depot upload --direct`` against a real API with direct transfers on, a real worker,
SeaweedFS and Redis: the bytes go to S3 with presigned part URLs and the file is listed
only after the worker verified it; against a server without them the flag fails clearly."""

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import client_env
from tests.support import HEADS, MIB, ApiServer, pattern_chunks, start_api


@pytest.fixture(scope="module")
def direct_stack(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    """An API offering direct transfers (5 MiB parts) and a worker that verifies them."""
    server = start_api(
        base_env,
        tmp_path_factory.mktemp("direct-cli"),
        ready_path="/health/ready",
        direct_transfers="true",
        direct_part_size=str(5 * MIB),
    )
    log = open(server.tmpdir / "worker.log", "wb")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, "-m", "service", "worker"], env=server.env, stdout=log, stderr=subprocess.STDOUT
    )
    yield server
    worker.terminate()
    worker.wait(30)
    log.close()
    server.stop()


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_direct_upload_sends_parts_to_s3_and_waits_for_verification(direct_stack, base_env, tmp_path, clean):
    data = b"".join(pattern_chunks(12 * MIB, head=HEADS["csv"]))  # three parts
    (tmp_path / "big.csv").write_bytes(data)
    env = client_env(base_env, tmp_path / "home", direct_stack.url)
    # Above the tus threshold too: --direct wins, and the hash computed before sending is declared up front.
    args = ("upload", "--direct", "--tus-threshold", "1M", "--purpose", "training", "--json", str(tmp_path / "big.csv"))
    result = run(env, tmp_path, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    [outcome] = json.loads(result.stdout)["results"]
    assert outcome["status"] == "uploaded", outcome
    listing = json.loads(run(env, tmp_path, "ls", "--json").stdout)
    [stored] = listing["files"]
    assert stored["path"] == outcome["path"] and stored["hash"] == hashlib.sha256(data).hexdigest()
    paths = [json.loads(line)["path"] for line in direct_stack.log().splitlines() if '"event":"request"' in line]
    assert "/api/v1/data/direct" in paths and any(p.endswith("/complete") for p in paths)
    assert not [p for p in paths if p.startswith(("/api/v1/data/upload", "/api/v1/data/tus"))]  # bytes went to S3


def test_direct_against_a_server_without_it_fails_clearly(depot, tmp_path):
    (tmp_path / "a.csv").write_bytes(b"a,b\n1,2\n")
    result = depot("upload", "--direct", str(tmp_path / "a.csv"))
    assert result.returncode == 1
    assert "does not offer direct transfers" in result.stderr + result.stdout
