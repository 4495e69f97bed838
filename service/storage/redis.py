"""The one way to talk to Redis: the shared client and the translation of its failures.

Every Redis caller (index, models, cache, events, queue, rate limit) uses one client
opened here and wraps its calls in ``translate_errors``, so a Redis fault always
surfaces as ``DependencyDown`` (503) and never as a driver exception."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis
from redis.exceptions import RedisError

from service.errors import DependencyDown
from service.storage.redis_target import RedisTarget


@asynccontextmanager
async def translate_errors(action: str) -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise DependencyDown(f"{action}: index unavailable") from exc


@asynccontextmanager
async def open_redis(
    target: str | RedisTarget,
    *,
    socket_timeout: float = 10,
    max_connections: int | None = None,
    retry_on_timeout: bool = True,
    decode_responses: bool = True,
) -> AsyncIterator[redis.Redis]:
    """The process's Redis client (a connection pool), closed on exit. The defaults suit short
    commands; a pool for blocking reads passes a longer ``socket_timeout`` and its own bound;
    ``decode_responses=False`` for the binary-safe one (tus keeps raw bytes: tails, hash states).
    ``target``: a URL, or a ``RedisTarget`` with password, TLS and Sentinel options."""
    target = target if isinstance(target, RedisTarget) else RedisTarget(target)
    client = target.client(
        decode_responses=decode_responses,
        socket_connect_timeout=3,
        socket_timeout=socket_timeout,
        health_check_interval=15,
        retry_on_timeout=retry_on_timeout,
        max_connections=max_connections,
    )
    try:
        yield client
    finally:
        await client.aclose()
