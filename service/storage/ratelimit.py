"""Per-key rate limiting in Redis (GCRA), so the limit holds across API processes and pods.

GCRA keeps one timestamp per key: ``rate`` requests per minute on average with bursts of
``burst``. A denied request learns exactly how long to wait (``Retry-After``). If Redis is
unreachable the limiter lets requests through (and logs): availability over strictness."""

import math

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger("depot.api")

# KEYS[1] = bucket; ARGV = emission interval (ms), burst. Returns 0 (allowed) or ms to wait.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local emission = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local allow_at = new_tat - emission * burst
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', new_tat - now + 1000)
return 0
"""


class RateLimiter:
    """``rate`` requests per minute per key, ``burst`` at once; ``rate`` 0 turns it off."""

    def __init__(self, client: redis.Redis, rate: int, burst: int, prefix: str) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.prefix = prefix
        self.emission_ms = math.ceil(60_000 / rate) if rate else 0
        self._script = client.register_script(_GCRA)

    async def wait_seconds(self, ident: str, rate: int | None = None, burst: int | None = None) -> int:
        """0 when the request may go ahead, else whole seconds until it may. ``rate`` and ``burst``
        replace the defaults for this key (``DEPOT_API_KEYS`` may set them per key)."""
        rate = self.rate if rate is None else rate
        if not rate:
            return 0
        emission_ms = self.emission_ms if rate == self.rate else math.ceil(60_000 / rate)
        try:
            wait_ms = int(await self._script(keys=[f"{self.prefix}ratelimit:{ident}"],
                                             args=[emission_ms, max(1, burst or self.burst)]))
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable; request let through", error=repr(exc))
            return 0
        return 0 if wait_ms <= 0 else max(1, math.ceil(wait_ms / 1000))
