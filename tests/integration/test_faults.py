"""Faults the upload path must survive, injected into real servers: SeaweedFS and Redis of
this module's own (fixed ports, so they can be stopped and started again), and a TCP proxy
between the API and S3 that cuts connections mid-stream or drops a response.

Whatever happens, nothing is half-visible: a failed upload leaves no object, manifest,
open multipart upload or index entry, and the running API recovers when the server is back."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
import redis
from botocore.config import Config

from service.devstack import Server, empty_buckets, free_port, start_redis, start_seaweedfs
from tests.conftest import open_uploads, stored_keys
from tests.proxy import Proxy, Rule
from tests.support import ApiServer, multipart_stream, start_api

MIB = 1024 * 1024
BUCKETS = ("depot-training", "depot-ingestion", "depot-models")


@dataclass
class Stack:
    root: Path
    s3_port: int
    redis_port: int
    s3: Server
    redis: Server
    proxy: Proxy

    def s3_up(self) -> bool:
        return self.s3.process.poll() is None

    def stop_s3(self) -> None:
        self.s3.stop()

    def start_s3(self) -> None:
        if not self.s3_up():
            self.s3 = start_seaweedfs(self.root / "s3", self.s3_port)

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        if self.redis.process.poll() is not None:
            self.redis = start_redis(self.root / "redis", self.redis_port)

    def boto(self):
        return boto3.client("s3", endpoint_url=self.s3.url, aws_access_key_id="depot",
                            aws_secret_access_key="depot-secret", region_name="us-east-1",
                            config=Config(request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, decode_responses=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults")
    s3_port, redis_port = free_port(), free_port()
    s3 = start_seaweedfs(root / "s3", s3_port)
    red = start_redis(root / "redis", redis_port)
    proxy = Proxy(s3_port, free_port())
    built = Stack(root, s3_port, redis_port, s3, red, proxy)
    yield built
    proxy.close()
    built.s3.stop()
    built.redis.stop()


@pytest.fixture(scope="module")
def fault_api(stack: Stack, base_env, tmp_path_factory) -> Iterator[ApiServer]:
    env = {**base_env, "DEPOT_S3_ENDPOINT_URL": stack.proxy.url, "DEPOT_REDIS_URL": stack.redis.url}
    server = start_api(env, tmp_path_factory.mktemp("fault-api"), ready_path="/health/ready",
                       part_size=str(5 * MIB), max_upload_size=str(64 * MIB))
    yield server
    server.stop()


def pattern_chunks(size: int, chunk: int = MIB) -> Iterator[bytes]:
    """Deterministic printable text (uploads of .txt are sniffed: no NUL bytes), 1 MiB at a time."""
    sent, number = 0, 0
    while sent < size:
        take = min(chunk, size - sent)
        line = f"{number:08d} the quick brown fox jumps over the lazy dog\n".encode()
        yield (line * (take // len(line) + 1))[:take]
        sent, number = sent + take, number + 1


def wipe(stack: Stack) -> None:
    stack.redis_client().flushdb()
    empty_buckets(stack.boto(), BUCKETS)


@pytest.fixture
def http(stack: Stack, fault_api: ApiServer) -> Iterator[httpx.Client]:
    """A healthy stack, no rules on the proxy, empty buckets and index."""
    stack.start_s3()
    stack.start_redis()
    stack.proxy.up()
    stack.proxy.clear()
    wait_ready(fault_api)
    wipe(stack)
    with httpx.Client(base_url=fault_api.url, timeout=120) as client:
        yield client
    stack.proxy.clear()


def wait_ready(api: ApiServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(api.url + "/health/ready", timeout=10).status_code == 200:
            return
        time.sleep(0.3)
    raise AssertionError("API did not become ready again")


def nothing_left(stack: Stack) -> None:
    s3 = stack.boto()
    for bucket in BUCKETS[:2]:
        assert stored_keys(s3, bucket) == [], bucket
        assert open_uploads(s3, bucket) == [], bucket
    assert [k for k in stack.redis_client().keys("*") if ":e:" in k or ":o:" in k] == []


def upload(http: httpx.Client, size: int, name: str = "f.txt") -> httpx.Response:
    content_type, body = multipart_stream({"purpose": "ingestion"}, name, pattern_chunks(size))
    return http.post("/api/v1/data/upload", content=body, headers={"Content-Type": content_type})


def assert_json_error(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    assert response.json()["success"] is False and response.json()["error"]


def assert_round_trip(http: httpx.Client, response: httpx.Response, size: int) -> None:
    assert response.status_code == 201, response.text
    path = response.json()["file"]["path"]
    assert http.get(f"/api/v1/data/files/{path}").content == b"".join(pattern_chunks(size))
    assert [f["path"] for f in http.get("/api/v1/data/files").json()["files"]] == [path]


# S3 -----------------------------------------------------------------------------------

def test_s3_stopped_before_upload_is_503_then_the_running_api_recovers(stack, http, fault_api):
    stack.stop_s3()
    for size in (10, 12 * MIB):  # a single PUT and a multipart upload
        assert_json_error(upload(http, size), 503)
    assert http.get("/health/ready").status_code == 503
    assert stack.redis_client().keys("*:e:*") == []
    stack.start_s3()
    wait_ready(fault_api)
    nothing_left(stack)
    assert_round_trip(http, upload(http, 6 * MIB), 6 * MIB)


def test_s3_unreachable_through_the_proxy_is_503(stack, http):
    stack.proxy.down()
    assert_json_error(upload(http, 1000), 503)
    stack.proxy.up()
    nothing_left(stack)
    assert_round_trip(http, upload(http, 1000), 1000)


def test_connection_cut_mid_upload_aborts_the_multipart_upload(stack, http):
    """Every connection that carries more than 1 MiB is cut: parts fail (after the SDK's retries),
    the small abort request still passes, so nothing is left."""
    rule = stack.proxy.add(Rule(after_bytes=1 * MIB))
    response = upload(http, 14 * MIB)
    assert rule.hits >= 1
    assert_json_error(response, 503, 500)
    stack.proxy.clear()
    nothing_left(stack)
    assert_round_trip(http, upload(http, 14 * MIB), 14 * MIB)


def test_s3_answer_cut_mid_download_breaks_the_download_instead_of_ending_it_short(stack, http):
    """The headers (200, Content-Length) are out before S3's body fails, so the only honest signal
    left is to break the connection: the client must never see a short body as complete."""
    size = 12 * MIB
    path = upload(http, size).json()["file"]["path"]
    key = path.split("/", 1)[1].encode()  # the object key: <category>/<saved name>
    rule = stack.proxy.add(Rule(re.compile(rb"^GET /depot-ingestion/" + re.escape(key) + rb" "), "truncate",
                                after_bytes=2 * MIB))
    received = 0
    with pytest.raises(httpx.RemoteProtocolError), http.stream("GET", f"/api/v1/data/files/{path}") as response:
        assert response.status_code == 200 and response.headers["content-length"] == str(size)
        for chunk in response.iter_bytes():
            received += len(chunk)
    assert rule.hits == 1 and 0 < received < size
    stack.proxy.clear()
    assert http.get(f"/api/v1/data/files/{path}").content == b"".join(pattern_chunks(size))  # the API is fine


def test_s3_stopped_mid_upload_leaves_nothing_visible(stack, http, fault_api):
    """The server dies while parts stream: 503, no object, manifest or index entry. The open
    multipart upload cannot be aborted while S3 is down; `depot verify` lists it afterwards
    (the bucket lifecycle rule expires such uploads)."""
    def chunks():
        sent = 0
        for chunk in pattern_chunks(20 * MIB):
            if sent == 8 * MIB:
                stack.stop_s3()
            sent += len(chunk)
            yield chunk

    content_type, body = multipart_stream({"purpose": "ingestion"}, "dies.txt", chunks())
    response = http.post("/api/v1/data/upload", content=body, headers={"Content-Type": content_type})
    assert_json_error(response, 503, 500)
    stack.start_s3()
    wait_ready(fault_api)
    s3 = stack.boto()
    for bucket in BUCKETS[:2]:
        assert stored_keys(s3, bucket) == []
    assert stack.redis_client().keys("*:e:*") == []
    assert http.get("/api/v1/data/files").json()["total"] == 0


def test_completion_answer_lost_is_an_idempotent_retry(stack, http):
    """The complete request (multipart) or the PUT (small file) reaches S3, but its answer is cut.
    The SDK retries; S3 says the upload is gone / the key exists; we find our object and go on."""
    complete = stack.proxy.add(Rule(re.compile(rb"^POST /depot-ingestion/text/[^ ]*\?uploadId="), "response", times=1))
    assert_round_trip(http, upload(http, 11 * MIB), 11 * MIB)
    assert complete.hits == 1
    wipe(stack)
    put = stack.proxy.add(Rule(re.compile(rb"^PUT /depot-ingestion/text/[^ ?]*\.txt "), "response", times=1))
    assert_round_trip(http, upload(http, 3000), 3000)
    assert put.hits == 1
    manifest = stack.proxy.add(Rule(re.compile(rb"^PUT /depot-ingestion/text/[^ ?]*\.meta\.json "), "response",
                                    times=1))
    wipe(stack)
    assert_round_trip(http, upload(http, 3000), 3000)
    assert manifest.hits == 1
    s3 = stack.boto()
    assert open_uploads(s3, "depot-ingestion") == []
    assert len(stored_keys(s3, "depot-ingestion")) == 2  # the object and its manifest


def test_completion_never_reaching_s3_is_a_clean_failure(stack, http):
    rule = stack.proxy.add(Rule(re.compile(rb"^POST /depot-ingestion/text/[^ ]*\?uploadId="), "before"))
    assert_json_error(upload(http, 11 * MIB), 503)
    nothing_left(stack)
    assert rule.hits >= 1  # the fault really was injected


def test_manifest_write_failing_removes_the_object(stack, http):
    """Chosen behaviour: the upload undoes itself, so the object that landed is deleted."""
    rule = stack.proxy.add(Rule(re.compile(rb"^PUT /depot-ingestion/text/[^ ?]*\.meta\.json "), "before"))
    for size in (500, 7 * MIB):
        assert_json_error(upload(http, size), 503)
        nothing_left(stack)
    assert rule.hits >= 2  # once per upload


def test_when_the_cleanup_fails_too_the_orphan_stays_invisible_and_verify_reports_it(stack, http, fault_api):
    """Manifest write and the undo's delete both fail: the object is an orphan. It is never listed
    or served (reindex reads manifests only) and `depot verify` reports it as drift."""
    stack.proxy.add(Rule(re.compile(rb"^PUT /depot-ingestion/text/[^ ?]*\.meta\.json "), "before"))
    stack.proxy.add(Rule(re.compile(rb"^POST /depot-ingestion\?delete"), "before"))
    assert_json_error(upload(http, 500), 503)
    stack.proxy.clear()
    orphans = stored_keys(stack.boto(), "depot-ingestion")
    assert len(orphans) == 1 and not orphans[0].endswith(".meta.json")
    env = {**fault_api.env, "DEPOT_S3_ENDPOINT_URL": stack.s3.url}
    subprocess.run([sys.executable, "-m", "service", "reindex"], env=env, check=True, capture_output=True)
    assert http.get("/api/v1/data/files").json()["total"] == 0
    verify = subprocess.run([sys.executable, "-m", "service", "verify", "--json"], env=env, capture_output=True,
                            text=True)
    assert verify.returncode == 1
    report = json.loads(verify.stdout)
    assert report["drift"] and "orphan" in report["problems"][0] and orphans[0] in report["problems"][0]


# client -------------------------------------------------------------------------------

def test_client_disconnect_mid_upload_aborts_everything(stack, http, fault_api):
    boundary = "cutboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gone.txt\"\r\n\r\n").encode()
    port = int(fault_api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall((f"POST /api/v1/data/upload HTTP/1.1\r\nHost: x\r\nContent-Length: {40 * MIB}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode() + head)
        for chunk in pattern_chunks(12 * MIB):
            sock.sendall(chunk)
        s3 = stack.boto()
        deadline = time.monotonic() + 30
        while not open_uploads(s3, "depot-ingestion") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert open_uploads(s3, "depot-ingestion"), "the upload should be under way"
    deadline = time.monotonic() + 30
    while open_uploads(s3, "depot-ingestion") and time.monotonic() < deadline:
        time.sleep(0.2)
    nothing_left(stack)
    assert http.get("/health/ready").status_code == 200


# Redis --------------------------------------------------------------------------------

def test_redis_down_uploads_answer_503_and_recover_without_restart(stack, http):
    stack.stop_redis()
    assert_json_error(upload(http, 100), 503)
    assert_json_error(upload(http, 12 * MIB), 503)
    assert_json_error(http.get("/api/v1/data/files"), 503)
    assert http.get("/health/ready").status_code == 503
    s3 = stack.boto()
    for bucket in BUCKETS[:2]:
        assert stored_keys(s3, bucket) == [] and open_uploads(s3, bucket) == []
    stack.start_redis()
    assert_round_trip(http, upload(http, 100), 100)


def test_redis_dying_during_an_upload_undoes_the_stored_object(stack, http):
    """Redis answers the ping before streaming, then dies: the index write fails, and the object
    and manifest already in S3 are removed."""
    def chunks():
        for number, chunk in enumerate(pattern_chunks(7 * MIB)):
            if number == 1:
                stack.stop_redis()
            yield chunk

    content_type, body = multipart_stream({"purpose": "ingestion"}, "late.txt", chunks())
    response = http.post("/api/v1/data/upload", content=body, headers={"Content-Type": content_type})
    assert_json_error(response, 503)
    stack.start_redis()
    nothing_left(stack)
    assert_round_trip(http, upload(http, 7 * MIB), 7 * MIB)


# workers ------------------------------------------------------------------------------

def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "service", "worker", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def enqueue(redis_url: str, function: str, job_id: str) -> None:
    import asyncio

    from arq.connections import RedisSettings, create_pool

    async def run() -> None:
        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        assert await pool.enqueue_job(function, _job_id=job_id) is not None
        await pool.aclose()

    asyncio.run(run())


def job_result(redis_url: str, job_id: str):
    import asyncio

    from arq.connections import RedisSettings, create_pool
    from arq.jobs import Job

    async def run():
        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        try:
            info = await Job(job_id, pool).result_info()
            return None if info is None else (info.success, info.result, info.job_try)
        finally:
            await pool.aclose()

    return asyncio.run(run())


@pytest.fixture
def held_reindex(stack: Stack, http: httpx.Client, fault_api: ApiServer, tmp_path: Path):
    """Three stored files, an empty Redis, a reindex job queued, and the worker's manifest reads
    held at the proxy, so the job is stuck mid-way until the test releases it."""
    paths = sorted(upload(http, 100 + n, f"w{n}.txt").json()["file"]["path"] for n in range(3))
    stack.redis_client().flushdb()  # no index, and none of the uploads' follow-up jobs
    stack.redis_client().set("depot:built", "1")  # this reindex is the test's, not the sweeper's restore_index
    enqueue(stack.redis.url, "reindex", "reindex-fault")
    hold = stack.proxy.add(Rule(re.compile(rb"^GET /depot-ingestion/text/[^ ?]*\.meta\.json"), "hold"))
    env = {**fault_api.env, "DEPOT_WORKER_JOB_COMPLETION_WAIT": "60"}
    worker = start_worker(env, tmp_path / "worker.log")
    deadline = time.monotonic() + 60
    while not hold.hits and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hold.hits, (tmp_path / "worker.log").read_text()
    yield paths, hold, worker, env
    hold.release.set()
    if worker.poll() is None:
        worker.kill()
        worker.wait()


def indexed(http: httpx.Client) -> list[str]:
    return sorted(f["path"] for f in http.get("/api/v1/data/files").json()["files"])


def test_worker_sigterm_lets_the_running_job_finish(stack, http, held_reindex):
    """SIGTERM mid-job: the job completes (within DEPOT_WORKER_JOB_COMPLETION_WAIT), no new job
    is picked up, and the worker exits cleanly."""
    paths, hold, worker, _ = held_reindex
    worker.send_signal(signal.SIGTERM)
    time.sleep(1)  # let the handler stop job pick-up before a second job arrives
    enqueue(stack.redis.url, "reindex", "reindex-after-sigterm")
    assert worker.poll() is None  # still finishing its job
    hold.release.set()
    assert worker.wait(60) == 0
    assert job_result(stack.redis.url, "reindex-fault") == (True, 3, 1)
    assert job_result(stack.redis.url, "reindex-after-sigterm") is None  # left queued for the next worker
    assert indexed(http) == paths


def test_worker_sigkill_mid_job_reruns_it_idempotently(stack, http, held_reindex):
    """SIGKILL mid-job: the job stays queued. Once arq's in-progress lease lapses (job timeout + 10 s;
    removed here rather than waited for), the next worker runs it again with the same result."""
    paths, hold, worker, env = held_reindex
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    red = stack.redis_client()
    assert red.zscore("arq:queue", "reindex-fault") is not None
    assert job_result(stack.redis.url, "reindex-fault") is None
    hold.release.set()
    red.delete("arq:in-progress:reindex-fault")
    rerun = subprocess.run([sys.executable, "-m", "service", "worker", "--burst"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    success, result, job_try = job_result(stack.redis.url, "reindex-fault")
    assert (success, result) == (True, 3) and job_try == 2
    assert indexed(http) == paths
    assert http.get("/api/v1/data/stats").json()["stats"]["total_files"] == 3  # no double counting
