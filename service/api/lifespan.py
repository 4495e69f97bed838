"""Long-lived clients, opened once per process (``service.wiring``) and kept on ``app.state``."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar

from service.api.live import LiveStreams
from service.errors import DependencyDown
from service.memory import tune_malloc
from service.settings import Settings
from service.wiring import open_clients

log = structlog.get_logger("depot.api")


def lifespan_for(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        tune_malloc()
        async with (
            open_clients(settings, followers=True) as clients,
            LiveStreams.open(clients.followers, settings) as live,  # SSE streams end first, then the pools close
        ):
            app.state.settings = settings
            app.state.clients = clients
            app.state.live = live
            try:
                await clients.files.ensure_buckets()
                await clients.models.ensure_bucket()
            except DependencyDown as exc:
                # Start anyway: /health/ready says 503 and retries until S3 is back.
                log.warning("storage not ready at start-up", error=exc.message)
            gc.freeze()  # start-up objects (SDK models, routes) leave the GC's scans: shorter pauses
            yield

    return lifespan
