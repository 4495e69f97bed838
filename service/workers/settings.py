"""arq worker configuration: functions, clients opened in on_startup, limits."""

import socket
from contextlib import AsyncExitStack
from typing import Any

from arq.constants import default_queue_name
from arq.cron import cron
from arq.worker import func

from service.domain.jobs import (
    CLEAN_STALE_UPLOADS,
    DELIVER_WEBHOOK,
    DISPATCH_EVENT,
    EXPIRE_DIRECT_UPLOADS,
    EXPIRE_TUS_UPLOADS,
    PROCESS_FILE,
    REINDEX,
    REQUEUE_LOST,
    RESTORE_INDEX,
    VERIFY_DIRECT,
)
from service.settings import Settings, get_settings
from service.storage.redis_target import RedisTarget
from service.wiring import open_clients
from service.workers import ingestion, jobs, sweeper

JOB_TIMEOUT = 3600  # seconds; the chart's terminationGracePeriodSeconds follows job_completion_wait
REINDEX_TIMEOUT = 24 * 3600  # a rebuild pages through every manifest: about 25 min per million on 2 cores
HEALTH_CHECK_INTERVAL = 15  # seconds; the record expires 1 s later, so a stuck worker fails its probe
EVERY_5_MINUTES = set(range(0, 60, 5))
POLL_DELAY = 0.05  # seconds between queue polls once every slot is busy (arq: 0.5, which left the
# worker idle most of the time on short ingestion jobs: bench/results.md)


async def startup(ctx: dict[str, Any]) -> None:
    """Open every client (``service.wiring``) into ``ctx["clients"]``, the one object jobs use."""
    settings: Settings = ctx.get("settings") or get_settings()
    stack = AsyncExitStack()
    clients = await stack.enter_async_context(open_clients(settings))
    ingestion.register_handlers(clients)
    ctx.update(stack=stack, clients=clients)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["stack"].aclose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``: one place for every limit."""
    return {
        "functions": [
            jobs.import_model_job, jobs.import_dataset_job, func(jobs.reindex, name=REINDEX, timeout=REINDEX_TIMEOUT),
            func(jobs.process_file, name=PROCESS_FILE, max_tries=ingestion.MAX_TRIES + 1),
            func(jobs.dispatch_event, name=DISPATCH_EVENT),
            func(jobs.deliver_webhook, name=DELIVER_WEBHOOK, max_tries=settings.webhook_max_tries),
            func(jobs.verify_direct, name=VERIFY_DIRECT, max_tries=jobs.VERIFY_TRIES),
        ],
        "cron_jobs": [  # the sweeper (README "Reliability"); arq runs each once per slot across replicas
            cron(sweeper.requeue_lost, name=REQUEUE_LOST, **every(settings.requeue_every), run_at_startup=False),
            cron(sweeper.clean_stale_uploads, name=CLEAN_STALE_UPLOADS, minute={17}),
            # Expired resumable uploads, at start-up and then in requeue_lost's minutes: arq keeps a cron
            # job's in-progress mark for 60 s after each run, so a job every minute would never let the
            # worker look idle (tests and bench wait for an idle worker).
            cron(sweeper.expire_tus_uploads, name=EXPIRE_TUS_UPLOADS, minute=EVERY_5_MINUTES, run_at_startup=True),
            cron(sweeper.expire_direct_uploads, name=EXPIRE_DIRECT_UPLOADS, minute=EVERY_5_MINUTES, run_at_startup=True),
            cron(sweeper.restore_index, name=RESTORE_INDEX, minute=EVERY_5_MINUTES, run_at_startup=True),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisTarget.of(settings).arq_settings(),
        "max_tries": 3,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": POLL_DELAY,
        "job_timeout": JOB_TIMEOUT,
        "job_completion_wait": settings.worker_job_completion_wait,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "health_check_key": health_check_key(),
        "ctx": {"settings": settings},
        "lease": settings.worker_job_lease,  # runner.ResilientWorker
    }


def every(seconds: int) -> dict[str, Any]:
    """arq cron times for "every ``seconds``": a divisor of 60 seconds, or whole minutes."""
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))}
    return {"minute": set(range(0, 60, seconds // 60))}


def health_check_key() -> str:
    """This process's health record: one per pod (hostname), so one replica cannot vouch for another."""
    return f"{default_queue_name}:health-check:{socket.gethostname()}"


async def check_health(settings: Settings, live: bool = False) -> tuple[int, str]:
    """(0 or 1, reason) for ``depot worker --check`` (readiness: this host's worker recorded
    its health in Redis recently) and ``--check --live`` (liveness: its loop runs, even while
    it waits for Redis)."""
    from service.workers.runner import check

    return await check(settings, health_check_key(), live)
