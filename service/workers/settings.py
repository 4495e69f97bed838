"""arq worker configuration: functions, clients opened in on_startup, limits."""

import socket
from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.constants import default_queue_name
from arq.cron import cron
from arq.worker import async_check_health, func

from service.settings import Settings, get_settings
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.objects import ObjectStore
from service.storage.tus import TusStore
from service.workers import ingestion, jobs, model_imports

JOB_TIMEOUT = 3600  # seconds; the chart's terminationGracePeriodSeconds follows job_completion_wait
HEALTH_CHECK_INTERVAL = 15  # seconds; the record expires 1 s later, so a stuck worker fails its probe
POLL_DELAY = 0.05  # seconds between queue polls once every slot is busy (arq: 0.5, which left the
# worker idle most of the time on short ingestion jobs: bench/results.md)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    stack = AsyncExitStack()
    objects = await stack.enter_async_context(ObjectStore.open(settings))
    index = await stack.enter_async_context(Index.open(settings.redis_url, settings.redis_prefix))
    ctx.update(settings=settings, stack=stack, files=FileStore(objects, index, settings))
    ctx["tus"] = await stack.enter_async_context(TusStore.open(ctx["files"], settings))
    await model_imports.open_clients(ctx)
    await ingestion.open_clients(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["stack"].aclose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``: one place for every limit."""
    return {
        "functions": [
            jobs.import_model_job, jobs.reindex, jobs.process_file, jobs.dispatch_event,
            func(jobs.deliver_webhook, max_tries=settings.webhook_max_tries),
        ],
        "cron_jobs": [cron(jobs.expire_tus_uploads, minute=None, run_at_startup=True, unique=True)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "max_tries": 3,
        "max_jobs": settings.worker_max_jobs,
        "poll_delay": POLL_DELAY,
        "job_timeout": JOB_TIMEOUT,
        "job_completion_wait": settings.worker_job_completion_wait,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "health_check_key": health_check_key(),
        "ctx": {"settings": settings},
    }


def health_check_key() -> str:
    """This process's health record: one per pod (hostname), so one replica cannot vouch for another."""
    return f"{default_queue_name}:health-check:{socket.gethostname()}"


async def check_health(settings: Settings) -> int:
    """0 if this host's worker recorded its health recently, else 1 (``depot worker --check``, a probe)."""
    return await async_check_health(RedisSettings.from_dsn(settings.redis_url), health_check_key())
