"""The worker waits out a Redis outage (it used to exit: a crash loop under Kubernetes), its
probes report the outage, and it picks up jobs again once Redis is back."""

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from service.devstack import free_port, start_redis


def probe(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "service", "worker", "--check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def wait_for(condition, what: str, worker: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.poll() is None, f"the worker exited while waiting for {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} never happened:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


async def run_job(redis_url: str) -> str:
    """Queue a job that needs only Redis and wait for its result."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        job = await pool.enqueue_job("dispatch_event", "0-1")
        assert job is not None
        return await Job(job.job_id, pool).result(timeout=60)
    finally:
        await pool.aclose()


def test_worker_survives_a_redis_outage_and_reports_it(base_env, tmp_path):
    port = free_port()
    redis = start_redis(tmp_path / "redis", port)
    env = {**base_env, "DEPOT_REDIS_URL": redis.url, "DEPOT_WORKER_JOB_COMPLETION_WAIT": "1"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: probe(env)[0] == 0, "a first health record", worker, log)
        assert asyncio.run(run_job(redis.url)) == "gone"

        redis.stop()
        wait_for(lambda: "Redis is unreachable" in log.read_text(), "the outage being logged", worker, log)
        code, said = probe(env)
        assert code == 1 and "Redis unreachable" in said, said  # readiness reports the outage
        code, said = probe(env, "--live")
        assert code == 0 and "Redis unreachable" in said, said  # alive, waiting: liveness must not restart it
        assert worker.poll() is None, log.read_text()[-3000:]

        redis = start_redis(tmp_path / "redis", port)
        assert asyncio.run(run_job(redis.url)) == "gone"  # picked up again, no restart
        wait_for(lambda: "Redis is back" in log.read_text(), "the recovery being logged", worker, log)
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, log.read_text()[-3000:]
        redis.stop()
    assert probe(env, "--live")[0] == 1  # a stopped worker leaves no heartbeat
