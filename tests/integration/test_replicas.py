"""Many replicas, one truth (issue 16 §4): 2 API processes and 2 arq workers (real processes) over one
SeaweedFS and one Redis, reached round-robin. 1,000 mixed operations, then one API process and one
worker are SIGKILLed while uploads are in flight. Everything is checked through HTTP and the S3 bucket."""

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from service.domain.apikeys import hash_key, new_key
from service.domain.naming import MANIFEST_SUFFIX
from tests.conftest import stored_keys
from tests.replicas import Ledger, RoundRobin, sample
from tests.support import start_api

TRAFFIC_KEY, LIMITED_KEY = new_key(), new_key()
LIMITED_BURST = 10
THRESHOLD = 10  # training.ready for every 10 processed training text files
KINDS = ["json", "jsonl", "csv", "yaml", "xml", "txt", "wav", "zip", "tgz", "bad.json"]
OPERATIONS = 1000
THREADS = 8
MAX_JOBS = 8  # per worker: at most this many jobs die with a killed worker
SETTLE = 90  # seconds processing and event handlers may take to catch up (a killed worker's claims: 5 s)


@pytest.fixture
def replicas(base_env, tmp_path, clean) -> Iterator[dict]:
    keys = [
        {"name": "traffic", "hash": hash_key(TRAFFIC_KEY), "scopes": ["admin"]},
        {
            "name": "limited",
            "hash": hash_key(LIMITED_KEY),
            "scopes": ["read"],
            "rate_limit_per_minute": 1,
            "rate_limit_burst": LIMITED_BURST,
        },
    ]
    overrides = {
        "api_keys": json.dumps(keys),
        "rate_limit_per_minute": "0",
        "duplicates": "reject",
        "training_thresholds": f"text:count={THRESHOLD}",
        "worker_job_lease": "5",
        "worker_max_jobs": str(MAX_JOBS),
        "requeue_every": "5",  # the sweeper finds uploads whose API died before queueing their job
        "pending_requeue_after": "5",
    }
    apis = [start_api(base_env, tmp_path / f"api{n}", ready_path="/health/ready", **overrides) for n in (0, 1)]
    env = {**base_env, **{f"DEPOT_{k.upper()}": v for k, v in overrides.items()}}
    logs = [open(tmp_path / f"worker{n}.log", "wb") for n in (0, 1)]  # noqa: SIM115 - closed below
    workers = [
        subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    transport = RoundRobin([a.url for a in apis])
    http = httpx.Client(
        transport=transport, base_url="http://depot", timeout=60, headers={"Authorization": f"Bearer {TRAFFIC_KEY}"}
    )
    try:
        yield {"apis": apis, "workers": workers, "http": http, "transport": transport}
    finally:
        http.close()
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(30)
        for log in logs:
            log.close()
        for api in apis:
            api.stop()


def upload(http: httpx.Client, ledger: Ledger, n: int, kind: str, purpose: str, deletable: bool) -> None:
    name, content, final = sample(kind, n)
    try:
        answer = http.post("/api/v1/data/upload", files={"file": (name, content)}, data={"purpose": purpose})
    except httpx.TransportError:  # cut by a killed API: it may or may not have landed
        with ledger.lock:
            ledger.unanswered[hashlib.sha256(content).hexdigest()] = content
        return
    assert answer.status_code == 201, answer.text
    ledger.add(answer.json()["file"], content, final, deletable)


def operation(http: httpx.Client, ledger: Ledger, n: int, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.30:
        kind = KINDS[n % len(KINDS)]  # training text is never deleted: each counts once towards a threshold
        upload(http, ledger, n, kind, "ingestion" if kind == "txt" else rng.choice(["ingestion", "training"]), True)
        return "upload"
    if roll < 0.38:
        upload(http, ledger, n, "txt", "training", deletable=False)  # counted towards training.ready
        return "training-text"
    if roll < 0.45:
        parts = [sample(kind, n * 10 + i) for i, kind in enumerate(("csv", "json", "bad.json"))]
        answer = http.post(
            "/api/v1/data/upload",
            data={"purpose": "ingestion"},
            files=[("file", (name, content)) for name, content, _ in parts],
        )
        assert answer.status_code == 201, answer.text
        for item, (_, content, final) in zip(answer.json()["files"], parts, strict=True):
            assert item["status"] == 201, item
            ledger.add(item["file"], content, final, deletable=False)
        return "batch"
    if roll < 0.55:
        with ledger.lock:
            twin = rng.choice(ledger.twins) if ledger.twins else None
        if twin is None:
            return "skip"
        purpose, content, path = twin
        answer = http.post(
            "/api/v1/data/upload",
            files={"file": ("again" + path[path.rfind(".") :], content)},
            data={"purpose": purpose},
        )
        assert answer.status_code == 409 and path in answer.json()["error"], answer.text
        return "duplicate"
    if roll < 0.57:  # the same new content twice at once, through both APIs: exactly one lands
        name, content, _ = sample("csv", 100_000 + n)
        with ThreadPoolExecutor(2) as pair:
            answers = list(
                pair.map(lambda _: http.post("/api/v1/data/upload", files={"file": (name, content)}), range(2))
            )
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        ledger.add(next(a for a in answers if a.status_code == 201).json()["file"], content, "done", False)
        return "twins"
    if roll < 0.72:
        path = ledger.take_deletable()
        if path is None:
            return "skip"
        answer = http.delete(f"/api/v1/data/files/{path}")
        assert answer.status_code == 200, answer.text
        ledger.forget(path)
        assert http.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).status_code == 404
        return "delete"
    if roll < 0.90:
        answer = http.get("/api/v1/data/files", params={"limit": 20, "purpose": rng.choice(["ingestion", "training"])})
        assert answer.status_code == 200 and len(answer.json()["files"]) <= 20
        return "list"
    assert http.get("/api/v1/data/stats").status_code == 200
    return "stats"


def listed(http: httpx.Client) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for purpose in ("ingestion", "training"):
        offset = 0
        while True:
            page = http.get("/api/v1/data/files", params={"purpose": purpose, "limit": 1000, "offset": offset}).json()
            found.update({f["path"]: f for f in page["files"]})
            offset += len(page["files"])
            if offset >= page["total"] or not page["files"]:
                break
    return found


def settled(http: httpx.Client, deadline: float) -> dict[str, dict]:
    """The listing once no file is pending or processing (a killed worker's jobs rerun after their lease)."""
    while True:
        files = listed(http)
        open_ = [p for p, f in files.items() if f["status"] in ("pending", "processing")]
        if not open_:
            return files
        assert time.monotonic() < deadline, f"still open: {open_[:5]}"
        time.sleep(0.5)


def events(http: httpx.Client, kind: str) -> list[dict]:
    found, after = [], None
    while True:
        page = http.get("/api/v1/events", params={"type": kind, "limit": 1000, **({"after": after} if after else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["events"]
        if body["next"] in (None, after):
            return found
        after = body["next"]


def check_agreement(
    http: httpx.Client, s3, settings, ledger: Ledger, deadline: float, killed: bool = False
) -> dict[str, dict]:
    """List, stats, manifests, objects and processing all match the ledger exactly."""
    files = settled(http, deadline)
    for path in set(files) - set(ledger.stored):  # only a cut upload may have landed unannounced
        assert files[path]["hash"] in ledger.unanswered, f"{path} was never uploaded"
    expected = set(ledger.stored) | {p for p, f in files.items() if f["hash"] in ledger.unanswered}
    assert set(files) == expected and not expected & ledger.deleted
    for path, record in ledger.stored.items():
        entry = files[path]
        assert (entry["hash"], entry["size"], entry["status"]) == (record.sha256, record.size, record.final), entry
    hashes = Counter((f["purpose"], f["hash"]) for f in files.values())
    assert max(hashes.values()) == 1  # duplicates rejected: no content twice per purpose
    stats = http.get("/api/v1/data/stats").json()["stats"]
    assert (stats["total_files"], stats["total_size"]) == (len(files), sum(f["size"] for f in files.values()))
    in_s3 = {
        f"{purpose}/{key}" for purpose in ("ingestion", "training") for key in stored_keys(s3, settings.bucket(purpose))
    }
    for key in in_s3 - set(files) - {p + MANIFEST_SUFFIX for p in files}:
        # Only a cut upload may leave keys no listing shows: its object (cut before the manifest; `depot
        # verify` reports it) or object and manifest (cut before the index write; `depot reindex` lists it).
        purpose, _, name = key.partition("/")
        body = s3.get_object(Bucket=settings.bucket(purpose), Key=name)["Body"].read()
        digest = json.loads(body)["hash"] if key.endswith(MANIFEST_SUFFIX) else hashlib.sha256(body).hexdigest()
        assert digest in ledger.unanswered, key
    assert in_s3 >= set(files) | {p + MANIFEST_SUFFIX for p in files}
    processed = Counter(e["subject"] for e in events(http, "file.processed") + events(http, "file.failed"))
    assert set(processed) >= set(files)  # every file announced its outcome; again only if its worker died
    assert sum(n - 1 for n in processed.values()) <= (MAX_JOBS if killed else 0)
    counted = sum(
        1 for f in files.values() if (f["purpose"], f["category"], f["status"]) == ("training", "text", "done")
    )
    assert counted >= ledger.training_text  # plus any cut upload that landed
    crossings = list(range(1, counted // THRESHOLD + 1))
    while (sequences := [e["data"]["sequence"] for e in events(http, "training.ready")]) != crossings:
        assert time.monotonic() < deadline and len(sequences) < len(crossings), sequences  # handlers run after
        time.sleep(0.5)  # the status is final: wait for the events' handlers, never for a second crossing
    return files


def test_two_apis_and_two_workers_agree_and_survive_sigkill(replicas, s3, settings):
    http, apis, workers = replicas["http"], replicas["apis"], replicas["workers"]
    ledger, rng = Ledger(), random.Random(16)
    started = time.monotonic()

    with ThreadPoolExecutor(THREADS) as pool:
        done = Counter(pool.map(lambda n: operation(http, ledger, n, rng), range(OPERATIONS)))
    assert done["upload"] > 200 and done["delete"] > 50 and done["batch"] > 40 and done["duplicate"] > 50
    check_agreement(http, s3, settings, ledger, time.monotonic() + SETTLE)
    print(f"1,000 operations checked after {time.monotonic() - started:.1f} s: {dict(done)}")

    # Per-key rate limit across both processes: the burst is shared, not doubled.
    with httpx.Client(
        transport=RoundRobin([a.url for a in apis]),
        base_url="http://depot",
        headers={"Authorization": f"Bearer {LIMITED_KEY}"},
    ) as limited:
        codes = Counter(limited.get("/api/v1/data/stats").status_code for _ in range(3 * LIMITED_BURST))
    assert codes == {200: LIMITED_BURST, 429: 2 * LIMITED_BURST}

    # SIGKILL one API and one worker while uploads are in flight; the survivors carry on.
    def kill_phase(n: int) -> None:
        if n == OPERATIONS + 30:
            apis[0].process.send_signal(signal.SIGKILL)
            workers[0].send_signal(signal.SIGKILL)
        upload(http, ledger, n, KINDS[n % len(KINDS)], "training" if n % 3 else "ingestion", deletable=False)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(kill_phase, range(OPERATIONS, OPERATIONS + 120)))
    assert apis[0].process.wait(10) == -signal.SIGKILL and workers[0].wait(10) == -signal.SIGKILL
    assert replicas["transport"].connect_retries > 0  # the dead API was routed around
    files = check_agreement(http, s3, settings, ledger, time.monotonic() + SETTLE, killed=True)
    print(f"SIGKILL phase checked after {time.monotonic() - started:.1f} s")
    for path, record in ledger.stored.items():  # every 201 is intact, byte for byte, and so is its manifest
        body = http.get(f"/api/v1/data/files/{path}")
        assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == record.sha256
        meta = http.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
        assert (meta["hash"], meta["size"], meta["status"]) == (record.sha256, record.size, record.final), meta
        assert (meta["status"] == "done") == (meta["summary"] is not None) and meta["duplicate_of"] is None
    print(
        f"cut uploads: {len(ledger.unanswered)}, of which stored: {len(files) - len(ledger.stored)}; "
        f"connections moved to the live API: {replicas['transport'].connect_retries}"
    )
    assert len(files) >= len(ledger.stored)
