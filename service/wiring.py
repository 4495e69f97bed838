"""Every long-lived client and store of a process, opened from ``Settings`` in one place.

The API lifespan, the worker start-up and the CLI's ``reindex``/``verify`` all call
``open_clients``; it yields one typed ``Clients`` and closes everything on exit. Nothing
else builds a client, so a store always gets the same S3 and Redis clients as its peers."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.settings import Settings
from service.storage.direct import DirectStore
from service.storage.direct_state import DirectState
from service.storage.events import Emitter, EventLog
from service.storage.files import FileStore
from service.storage.index import Index
from service.storage.model_cache import ModelCache
from service.storage.models import ModelStore
from service.storage.objects import ObjectStore
from service.storage.queue import JobQueue
from service.storage.ratelimit import RateLimiter
from service.storage.redis import open_redis
from service.storage.redis_target import RedisTarget
from service.storage.training import TrainingCounter
from service.storage.tus import TusStore
from service.storage.tus_state import TusState
from service.upstreams import Upstreams
from service.upstreams.base import new_http_client
from service.upstreams.github import GitHub
from service.upstreams.hf_datasets import HubDatasets
from service.upstreams.huggingface import HuggingFace


@dataclass
class Clients:
    """What a process works with: stores, queue, event log, upstreams and HTTP clients."""

    settings: Settings
    objects: ObjectStore
    index: Index
    files: FileStore
    tus: TusStore  # resumable uploads (tus), committed through ``files``
    direct: DirectStore  # presigned transfers (opt-in), committed through ``files``
    models: ModelStore
    cache: ModelCache
    events: EventLog
    emitter: Emitter
    queue: JobQueue
    training: TrainingCounter
    limiter: RateLimiter
    upstreams: Upstreams
    http: httpx.AsyncClient  # upstreams (Hub, GitHub): follows redirects
    webhook_http: httpx.AsyncClient  # webhook deliveries: never follows redirects
    webhook_keys: list[bytes]  # Standard Webhooks HMAC keys of DEPOT_WEBHOOK_SECRET (none: unsigned)
    followers: EventLog | None = None  # the API's SSE streams: the event log on a pool of its own
    handlers: dict[str, Any] = field(default_factory=dict)  # event handlers by name; filled at worker start-up


@asynccontextmanager
async def open_clients(settings: Settings, *, followers: bool = False) -> AsyncIterator[Clients]:
    """Open every client (S3, Redis, httpx) once; close them all on exit. ``followers`` (the API)
    also opens the Redis pool its live event streams block in, apart from the one uploads use."""
    async with AsyncExitStack() as stack:
        objects = await stack.enter_async_context(ObjectStore.open(settings))
        redis = await stack.enter_async_context(open_redis(RedisTarget.of(settings)))
        raw_redis = await stack.enter_async_context(open_redis(RedisTarget.of(settings), decode_responses=False))
        http = new_http_client()
        stack.push_async_callback(http.aclose)
        webhook_http = httpx.AsyncClient(follow_redirects=False)
        stack.push_async_callback(webhook_http.aclose)
        prefix = settings.redis_prefix
        index = Index(redis, prefix)
        queue = JobQueue(redis)
        source = settings.events_source()
        events = EventLog(redis, prefix, settings.events_max_len, source)
        follower_log = None
        if followers:
            follower_log = await stack.enter_async_context(
                EventLog.open_for_following(
                    RedisTarget.of(settings),
                    prefix,
                    settings.events_max_len,
                    source,
                    settings.events_streams_max,
                    settings.events_heartbeat,
                )
            )
        files = FileStore(objects, index, settings)
        yield Clients(
            settings=settings,
            objects=objects,
            index=index,
            files=files,
            tus=TusStore(files, objects, TusState(raw_redis, prefix, settings.tus_lock_seconds), settings),
            direct=DirectStore(files, objects, DirectState(redis, prefix), queue, settings),
            models=ModelStore(objects, redis, settings),
            cache=ModelCache(objects, redis, settings),
            events=events,
            emitter=Emitter(events, queue),
            queue=queue,
            training=TrainingCounter(redis, prefix, events),
            limiter=RateLimiter(redis, settings.rate_limit_per_minute, settings.rate_limit_burst, prefix),
            upstreams=Upstreams(HuggingFace(settings, http), GitHub(settings, http), HubDatasets(settings, http)),
            http=http,
            webhook_http=webhook_http,
            webhook_keys=settings.webhook_keys(),
            followers=follower_log,
        )
