"""Tombstones: why a delete stays final while background jobs still hold the deleted thing.

A delete first claims a tombstone (``<prefix>gone:<path>`` for files, ``<prefix>models:gone:<id>``
for models) in the same Lua step that removes the index entry, and only then removes the S3
keys. Every background write of a file or model checks the tombstone atomically with its Redis
writes (the Lua scripts refuse), and re-checks it after each S3 write, undoing that write when
the tombstone appeared meanwhile. Since the delete removes the S3 keys after setting the
tombstone, an S3 write either happened before the re-check saw no tombstone (then before the
delete's S3 removal, which removes it) or is undone by the writer itself.

The value is ``<owner>|<state>``: the owner is the model's import task ('' for files, whose
names are never reused) and the state ``deleting:<ms>`` (a delete in flight; taken over after
``DELETE_LEASE_MS`` if its caller died), ``retry`` (S3 refused the removal: the next DELETE
takes over) or ``done``. Claiming is the one atomic step that picks the single winner among
concurrent DELETEs."""

from enum import StrEnum

import redis.asyncio as redis

from service.storage.redis import translate_errors

TOMBSTONE_TTL = 86_400  # seconds; longer than any job that read a record may run (1 h) before writing
DELETE_LEASE_MS = 60_000  # a claim older than this whose DELETE never finished may be taken over

# Prepended to a script: claim(key, owner, ttl, lease) returns false (lost: another DELETE holds
# or finished it), 'fresh' (first claim) or 'takeover' (a failed or abandoned delete resumed).
CLAIM_LUA = """
local function claim(key, owner, ttl, lease)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local old = redis.call('GET', key)
  local taken = 'fresh'
  if old then
    local who, state, since = string.match(old, '^(.-)|(%a+):?(%d*)$')
    if who == owner then
      if state == 'done' then return false end
      if state == 'deleting' and now - tonumber(since) < tonumber(lease) then return false end
      taken = 'takeover'
    end
  end
  redis.call('SET', key, owner .. '|deleting:' .. now, 'EX', ttl)
  return taken
end
local function buried(key, owner)
  local value = redis.call('GET', key)
  return value and string.sub(value, 1, #owner + 1) == owner .. '|'
end
"""

_SET_STATE = """
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, #ARGV[1] + 1) ~= ARGV[1] .. '|' then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3]) end
return 1
"""


def file_tombstone(prefix: str, path: str) -> str:
    """The tombstone key of a deleted file."""
    return f"{prefix}gone:{path}"


class Claim(StrEnum):
    """The outcome of a delete's claim."""

    LOST = "lost"  # another DELETE holds or finished it: answer 404
    INDEXED = "indexed"  # ours, and the index entry was removed with the claim
    FRESH = "fresh"  # ours, but nothing was indexed: the caller checks S3
    TAKEOVER = "takeover"  # ours, resuming a delete that failed or whose caller died

    @classmethod
    def of(cls, answer: object) -> "Claim":
        return cls(answer) if answer else cls.LOST


class Tombstones:
    """Reads and state changes of tombstones (claims are taken inside the stores' scripts)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._set_state = client.register_script(_SET_STATE)

    async def buried(self, key: str, owner: str = "") -> bool:
        """True when ``key`` holds a tombstone of ``owner`` (any state)."""
        async with translate_errors("read tombstone"):
            value = await self.client.get(key)
        return value is not None and value.startswith(f"{owner}|")

    async def finish(self, key: str, owner: str = "") -> None:
        """The delete removed everything: the tombstone now only guards against late writers."""
        await self._state(key, owner, "done")

    async def retry(self, key: str, owner: str = "") -> None:
        """The delete failed midway: the next DELETE takes over."""
        await self._state(key, owner, "retry")

    async def release(self, key: str, owner: str = "") -> None:
        """A claim that found nothing to delete: drop it (no tombstone for what never existed)."""
        await self._state(key, owner, "")

    async def _state(self, key: str, owner: str, state: str) -> None:
        async with translate_errors("write tombstone"):
            await self._set_state(keys=[key], args=[owner, state, TOMBSTONE_TTL])
