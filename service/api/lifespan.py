"""Long-lived clients, opened once per process and kept on ``app.state``."""

import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from arq.connections import ArqRedis
import structlog
from litestar import Litestar

from service.api.imports import open_model_imports
from service.errors import DependencyDown
from service.memory import tune_malloc
from service.settings import Settings
from service.storage.events import Emitter, EventLog
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.objects import ObjectStore
from service.storage.queue import JobQueue
from service.storage.tus import TusStore

log = structlog.get_logger("depot.api")


def lifespan_for(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        tune_malloc()
        async with AsyncExitStack() as stack:
            objects = await stack.enter_async_context(ObjectStore.open(settings))
            index = await stack.enter_async_context(Index.open(settings.redis_url, settings.redis_prefix))
            files = FileStore(objects, index, settings)
            jobs = ArqRedis.from_url(settings.redis_url, socket_connect_timeout=3)  # lazy: connects on use
            stack.push_async_callback(jobs.aclose)
            app.state.settings = settings
            app.state.files = files
            app.state.tus = await stack.enter_async_context(TusStore.open(files, settings))
            app.state.jobs = jobs
            app.state.emitter = Emitter(
                EventLog(index.client, settings.redis_prefix, settings.events_max_len), JobQueue(index.client))
            app.state.models, app.state.upstreams = await open_model_imports(stack, objects, index, settings)
            try:
                await objects.ensure_buckets(files.buckets())
                await app.state.models.ensure_bucket()
            except DependencyDown as exc:
                # Start anyway: /health/ready says 503 and retries until S3 is back.
                log.warning("storage not ready at start-up", error=exc.message)
            gc.freeze()  # start-up objects (SDK models, routes) leave the GC's scans: shorter pauses
            yield

    return lifespan
