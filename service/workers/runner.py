"""The arq worker, made to outlive Redis outages, and its health probe.

arq's worker ends when a Redis call of its poll loop fails (and gives up connecting at
start after five tries), so under Kubernetes a Redis outage became a crash loop. Here a
connection fault of the poll loop is logged, waited out with backoff (redis-py reconnects
on the next call) and the loop goes on. Besides arq's health record in Redis, the worker
writes a small heartbeat file: the liveness probe reads that (the process is alive even
while Redis is not), the readiness probe reads Redis (an outage is reported)."""

import asyncio
import hashlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.settings import Settings
from service.storage.redis_target import RedisTarget

log = logging.getLogger("depot.worker")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
FIRST_DELAY, MAX_DELAY = 0.5, 10.0  # seconds between reconnect attempts, doubled up to the max
BEAT_EVERY = 5.0  # seconds between heartbeat file writes
BEAT_STALE = 60.0  # a heartbeat older than this: the worker's loop is stuck or gone


def heartbeat_path(redis_url: str, health_key: str) -> Path:
    """One file per Redis and health record (host and queue), in the temp dir (an emptyDir in the chart)."""
    digest = hashlib.sha256(f"{redis_url} {health_key}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"depot-worker-{digest}.json"


class ResilientWorker(Worker):
    """``arq.Worker`` that waits for Redis instead of exiting when it goes away, and holds each running
    job by a short lease it renews.

    arq claims a started job for the longest timeout of *any* function (+10 s): a model import's
    hour. A worker killed mid-job (OOM, lost node) therefore held every job it had claimed (a file's
    parse, an event's handlers) for an hour before another replica could run it. Here every claim is
    ``lease`` seconds, renewed every third of that while the job runs, so a live job of any length
    keeps it and a dead worker's jobs (started or only claimed) run elsewhere within ``lease``."""

    def __init__(self, *args: Any, redis_url: str, lease: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease = lease
        if lease is not None:
            self.in_progress_timeout_s = lease  # the claim arq takes before a job starts
        self._down_since: float | None = None
        self._delay = FIRST_DELAY
        self._beat_at = 0.0
        self._beat_path = heartbeat_path(redis_url, self.health_check_key)

    async def main(self) -> None:
        while self._pool is None:
            try:
                self._pool = await create_pool(
                    self.redis_settings,
                    job_deserializer=self.job_deserializer,
                    job_serializer=self.job_serializer,
                    default_queue_name=self.queue_name,
                    expires_extra_ms=self.expires_extra_ms,
                )
            except REDIS_DOWN as exc:
                await self._redis_down(exc)
        await super().main()

    async def run_job(self, job_id: str, score: int) -> None:
        if self._lease is None:
            return await super().run_job(job_id, score)
        holder = asyncio.ensure_future(self._hold(in_progress_key_prefix + job_id, self._lease))
        try:
            await super().run_job(job_id, score)
        finally:
            holder.cancel()

    async def _hold(self, key: str, lease: float) -> None:
        """Renew a running job's claim; PEXPIRE never recreates the key once arq has finished the job."""
        while True:
            try:
                await self.pool.pexpire(key, int(lease * 1000))
            except REDIS_DOWN as exc:  # the claim may lapse: at worst the job runs once more elsewhere
                log.warning("could not renew the claim %s: %s", key, exc)
            await asyncio.sleep(lease / 3)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            await self._redis_down(exc)
            return
        if self._down_since is not None:
            log.warning("Redis is back after %.0f s; picking up jobs again", time.monotonic() - self._down_since)
            self._down_since, self._delay = None, FIRST_DELAY
        self._beat(None)

    async def _redis_down(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.error("Redis is unreachable (%s); waiting for it", exc or type(exc).__name__)
        self._beat(f"Redis unreachable for {time.monotonic() - self._down_since:.0f} s: {exc}", force=True)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, MAX_DELAY)

    def _beat(self, problem: str | None, force: bool = False) -> None:
        now = time.time()
        if not force and now - self._beat_at < BEAT_EVERY:
            return
        self._beat_at = now
        try:
            tmp = self._beat_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"at": now, "problem": problem}))
            tmp.replace(self._beat_path)
        except OSError as exc:  # the probe then reports it; the worker goes on
            log.warning("could not write the heartbeat file %s: %s", self._beat_path, exc)

    async def close(self) -> None:
        self._beat_path.unlink(missing_ok=True)
        try:
            await super().close()
        except REDIS_DOWN as exc:  # stopping during an outage: nothing left to tell Redis
            log.warning("closing without Redis: %s", exc)


def _heartbeat(redis_url: str, health_key: str) -> tuple[float | None, str | None]:
    try:
        beat = json.loads(heartbeat_path(redis_url, health_key).read_text())
        return time.time() - float(beat["at"]), beat.get("problem")
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


async def check(settings: Settings, health_key: str, live: bool) -> tuple[int, str]:
    """(exit code, reason). ``live``: the worker's loop runs (whatever Redis does); otherwise
    it recorded its health in Redis recently (fails during a Redis outage, naming it)."""
    age, problem = _heartbeat(settings.redis_url, health_key)
    if live:
        if age is None or age > BEAT_STALE:
            return 1, "no recent heartbeat from a worker on this host"
        return 0, f"alive ({problem})" if problem else "alive"
    client = RedisTarget.of(settings).client(socket_connect_timeout=3, socket_timeout=3)
    try:
        record = await client.get(health_key)
    except REDIS_DOWN as exc:
        return 1, f"Redis unreachable: {exc}"
    finally:
        await client.aclose()
    if record:
        return 0, record.decode(errors="replace")
    return 1, problem or "no recent health record of a worker on this host"
