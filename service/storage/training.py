"""Training-data accounting: ``training.ready`` exactly once per threshold crossing.

One Lua script counts a processed training file (once per path, however often a job
is retried), and when a threshold is reached it resets the window and appends the
``training.ready`` CloudEvent to the stream in the same atomic step. Concurrent uploads and
any number of workers therefore see exactly one crossing, and the event cannot be lost
between "crossed" and "recorded"."""

import redis.asyncio as redis

from service.domain.categories import Category
from service.domain.records import format_time, utc_now
from service.domain.training import Threshold
from service.storage.events import EventLog
from service.storage.redis import translate_errors
from service.storage.tombstones import file_tombstone

_COUNT = """
if redis.call('EXISTS', KEYS[4]) == 1 then return false end  -- deleted: never counted again
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return false end
local files = redis.call('HINCRBY', KEYS[1], 'files', 1)
local bytes = redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[2])
local tf, tb = tonumber(ARGV[3]), tonumber(ARGV[4])
if (tf > 0 and files >= tf) or (tb > 0 and bytes >= tb) then
  redis.call('HSET', KEYS[1], 'files', 0, 'bytes', 0)
  local seq = redis.call('HINCRBY', KEYS[1], 'sequence', 1)
  local data = cjson.encode({specversion = '1.0', source = ARGV[8], type = 'io.depot.training.ready',
    subject = ARGV[7], time = ARGV[5], datacontenttype = 'application/json',
    data = {category = ARGV[7], files = files, bytes = bytes, sequence = seq, threshold_files = tf,
            threshold_bytes = tb}})
  return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'type', 'io.depot.training.ready', 'data', data)
end
return false
"""


class TrainingCounter:
    def __init__(self, client: redis.Redis, prefix: str, events: EventLog) -> None:
        self.client, self.prefix, self.events = client, prefix, events
        self._count = client.register_script(_COUNT)

    def _keys(self, category: Category) -> list[str]:
        return [f"{self.prefix}training:{category.value}", f"{self.prefix}training:counted:{category.value}",
                self.events.key]

    async def count(self, category: Category, path: str, size: int, threshold: Threshold) -> str | None:
        """Count one processed training file; the id of the ``training.ready`` event it triggered, if any."""
        args = [path, size, threshold.files, threshold.bytes, format_time(utc_now()), self.events.max_len,
                category.value, self.events.source]
        async with translate_errors("count training data"):
            keys = [*self._keys(category), file_tombstone(self.prefix, path)]
            return await self._count(keys=keys, args=args) or None

    async def forget(self, category: Category, path: str) -> None:
        """A deleted file leaves the counted set (it stays bounded by the files that exist)."""
        async with translate_errors("count training data"):
            await self.client.srem(self._keys(category)[1], path)

    async def window(self, category: Category) -> dict[str, int]:
        async with translate_errors("read training counters"):
            raw = await self.client.hgetall(self._keys(category)[0])
        return {k: int(v) for k, v in raw.items()}
