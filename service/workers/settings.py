"""arq worker configuration: functions, clients opened in on_startup, limits."""

from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings

from service.settings import Settings, get_settings
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.objects import ObjectStore
from service.workers import jobs

JOB_TIMEOUT = 3600  # seconds; the chart's terminationGracePeriodSeconds follows job_completion_wait
JOB_COMPLETION_WAIT = 60


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or get_settings()
    stack = AsyncExitStack()
    objects = await stack.enter_async_context(ObjectStore.open(settings))
    index = await stack.enter_async_context(Index.open(settings.redis_url, settings.redis_prefix))
    ctx.update(settings=settings, stack=stack, files=FileStore(objects, index, settings))


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["stack"].aclose()


def worker_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``: one place for every limit."""
    return {
        "functions": [jobs.reindex],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "max_tries": 3,
        "job_timeout": JOB_TIMEOUT,
        "job_completion_wait": JOB_COMPLETION_WAIT,
        "ctx": {"settings": settings},
    }
