"""Integrity under concurrency: 300 random files (0 B to 20 MiB, skewed small, 115 MiB in
all) go up and come back byte-equal with matching manifest hashes; ``depot verify`` agrees, and
reports drift once an object is altered or removed behind the service's back."""

import hashlib
import json
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx

MIB = 1024 * 1024
COUNT = 300
PRINTABLE = bytes(range(32, 127)) * 3  # 285 bytes: a table for bytes.translate (no NUL: .csv is sniffed)
TABLE = (PRINTABLE * 2)[:256]


def sizes(seed: int = 300) -> list[int]:
    """Mostly small files, some medium, a few large; always 0 B and exactly 20 MiB."""
    rng = random.Random(seed)
    small = [int(rng.expovariate(1 / (48 * 1024))) for _ in range(COUNT - 30)]
    medium = [rng.randint(256 * 1024, 4 * MIB) for _ in range(24)]
    large = [rng.randint(4 * MIB, 20 * MIB) for _ in range(4)]
    return [0, 20 * MIB, *small, *medium, *large]


def content(number: int, size: int) -> bytes:
    return random.Random(number).randbytes(size).translate(TABLE)


def test_300_concurrent_files_round_trip_and_verify(api, client, s3, settings, base_env):
    plan = sizes()
    assert len(plan) == COUNT and min(plan) == 0 and max(plan) == 20 * MIB

    def round_trip(number: int) -> tuple[str, str, int]:
        data = content(number, plan[number])
        digest = hashlib.sha256(data).hexdigest()
        with httpx.Client(base_url=api.url, timeout=300) as http:
            response = http.post("/api/v1/data/upload", files={"file": (f"r{number}.csv", data)},
                                 data={"purpose": "training" if number % 2 else "ingestion"})
            assert response.status_code == 201, response.text
            stored = response.json()["file"]
            assert stored["hash"] == digest and stored["size"] == len(data)
            back = http.get(f"/api/v1/data/files/{stored['path']}")
            assert back.status_code == 200 and back.content == data, number
            meta = http.get(f"/api/v1/data/files/{stored['path']}", params={"metadata": "true"}).json()["metadata"]
            assert meta["hash"] == digest and meta["size"] == len(data)
        return stored["path"], digest, len(data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(round_trip, range(COUNT)))
    total = sum(size for _, _, size in results)
    assert len({path for path, _, _ in results}) == COUNT
    assert client.get("/api/v1/data/stats").json()["stats"]["total_size"] == total

    report = verify(base_env)
    assert report["drift"] is False and report["problems"] == []
    assert report["checked"] == COUNT and report["bytes"] == total

    # Drift behind the service's back: one object rewritten, another removed.
    changed, gone = results[1][0], results[3][0]
    for path, action in ((changed, "rewrite"), (gone, "remove")):
        purpose, category, name = path.split("/")
        key = f"{category}/{name}"
        if action == "rewrite":
            s3.put_object(Bucket=settings.bucket(purpose), Key=key, Body=b"tampered")
        else:
            s3.delete_object(Bucket=settings.bucket(purpose), Key=key)
    report = verify(base_env, expect_code=1)
    assert report["drift"] is True
    assert sorted(report["problems"]) == sorted([f"{changed}: size 8 != manifest {results[1][2]}",
                                                 f"{gone}: object missing"])


def verify(env: dict[str, str], expect_code: int = 0) -> dict:
    done = subprocess.run([sys.executable, "-m", "service", "verify", "--json"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == expect_code, done.stdout + done.stderr
    return json.loads(done.stdout)
