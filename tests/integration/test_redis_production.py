"""Redis in production (issue 16 §5): a password, TLS (``rediss://`` with a private CA) and Sentinel,
for the API's redis-py pools and the worker's arq pool alike, against real ``redis-server`` processes."""

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from arq.connections import create_pool
from redis.exceptions import AuthenticationError, ConnectionError, ResponseError

from service.devstack import LOOPBACK, Server, free_port, start_redis, tool_path
from service.settings import Settings
from service.storage.redis_target import RedisTarget, parse_sentinels
from tests.support import run_worker_burst, start_api
from tests.tls import TlsTerminator, make_certs

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> Iterator[Server]:
    """A redis-server that requires a password."""
    server = start_redis(tmp_path_factory.mktemp("redis-auth"), password=PASSWORD)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls(secured: Server, tmp_path_factory) -> Iterator[tuple[TlsTerminator, str]]:
    """TLS in front of the secured server (its redis-server has no TLS built in: tests/tls.py)."""
    ca, cert, key = make_certs(tmp_path_factory.mktemp("certs"))
    terminator = TlsTerminator(int(secured.url.rsplit(":", 1)[1].split("/")[0]), cert, key)
    yield terminator, str(ca)
    terminator.close()


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/")[0])


async def ping(target: RedisTarget) -> bool:
    client = target.client(socket_connect_timeout=3)
    try:
        return await client.ping()
    finally:
        await client.aclose()


async def arq_ping(target: RedisTarget) -> bool:
    settings = target.arq_settings()
    settings.conn_retries = 0
    pool = await create_pool(settings)
    try:
        return await pool.ping()
    finally:
        await pool.aclose()


def test_a_password_from_the_url_or_the_setting_reaches_redis_py_and_arq(secured):
    bare = f"redis://{LOOPBACK}:{port_of(secured)}/0"
    with pytest.raises((AuthenticationError, ResponseError)):
        asyncio.run(ping(RedisTarget(bare)))  # the server really requires it
    with pytest.raises((AuthenticationError, ResponseError)):
        asyncio.run(arq_ping(RedisTarget(bare)))
    for target in (RedisTarget(secured.url), RedisTarget(bare, password=PASSWORD)):
        assert asyncio.run(ping(target)) and asyncio.run(arq_ping(target))
    settings = Settings(redis_url=bare, redis_password=PASSWORD)
    target = RedisTarget.of(settings)
    assert target.arq_settings().password == PASSWORD and asyncio.run(ping(target))


def test_tls_is_verified_against_the_configured_ca(tls):
    terminator, ca = tls
    url = f"rediss://localhost:{terminator.port}/0"
    before = terminator.handshakes
    trusted = RedisTarget(url, password=PASSWORD, ca_file=ca)
    assert asyncio.run(ping(trusted)) and asyncio.run(arq_ping(trusted))
    assert terminator.handshakes >= before + 2  # both clients spoke TLS
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        asyncio.run(ping(RedisTarget(url, password=PASSWORD)))  # the system CAs do not know ours
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        asyncio.run(arq_ping(RedisTarget(url, password=PASSWORD)))
    assert asyncio.run(ping(RedisTarget(url, password=PASSWORD, tls_verify=False)))


def upload_and_process(env: dict[str, str], workdir) -> None:
    """A real API and a real burst worker on ``env``: upload, parse, read back the status."""
    api = start_api(env, workdir, ready_path="/health/ready")
    try:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            answer = http.post("/api/v1/data/upload", files={"file": ("qa.csv", b"q,a\nhi,hello\n")})
            assert answer.status_code == 201, answer.text
            path = answer.json()["file"]["path"]
            worker = run_worker_burst(api.env)
            assert worker.returncode == 0, worker.stderr[-2000:]
            meta = http.get(f"/api/v1/data/files/{path}", params={"metadata": "true"}).json()["metadata"]
            assert meta["status"] == "done"
            assert http.get("/api/v1/data/stats").json()["stats"]["total_files"] >= 1
    finally:
        api.stop()


def test_api_and_worker_run_over_tls_with_a_password(base_env, tls, tmp_path, clean):
    terminator, ca = tls
    before, refused = terminator.handshakes, terminator.failed_handshakes
    env = {
        **base_env,
        "DEPOT_REDIS_URL": f"rediss://localhost:{terminator.port}/0",
        "DEPOT_REDIS_PASSWORD": PASSWORD,
        "DEPOT_REDIS_CA_FILE": ca,
    }
    upload_and_process(env, tmp_path)
    assert terminator.handshakes > before and terminator.failed_handshakes == refused


@pytest.fixture
def sentinel(secured: Server, tmp_path) -> Iterator[str]:
    """``redis-server --sentinel`` (the same binary) watching the secured master as ``depot-master``."""
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind {LOOPBACK}\ndir {tmp_path}\nsentinel monitor depot-master {LOOPBACK} "
        f"{port_of(secured)} 1\nsentinel auth-pass depot-master {PASSWORD}\n"
    )
    with open(tmp_path / "sentinel.log", "wb") as log:
        process = subprocess.Popen(
            [tool_path("redis-server"), str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "sentinel.log").read_text()
            time.sleep(0.1)
    try:
        yield f"{LOOPBACK}:{port}"
    finally:
        process.terminate()
        process.wait(10)


def test_api_and_worker_find_the_master_through_sentinel(base_env, secured, sentinel, tmp_path, clean):
    assert parse_sentinels(f"{sentinel}, [::1]:26380,host") == (
        (sentinel.split(":")[0], int(sentinel.split(":")[1])),
        ("::1", 26380),
        ("host", 26379),
    )
    env = {
        **base_env,
        "DEPOT_REDIS_URL": f"redis://:{PASSWORD}@depot-master/0",
        "DEPOT_REDIS_SENTINELS": sentinel,
        "DEPOT_REDIS_SENTINEL_MASTER": "depot-master",
    }
    master = RedisTarget(secured.url).client()

    async def keys() -> int:
        try:
            return await master.dbsize()
        finally:
            await master.aclose()

    async def flush() -> None:
        client = RedisTarget(secured.url).client()
        try:
            await client.flushdb()
        finally:
            await client.aclose()

    asyncio.run(flush())
    upload_and_process(env, tmp_path)
    assert asyncio.run(keys()) > 0  # the index and queue went to the master the Sentinel named
