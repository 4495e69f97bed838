"""The Redis side of a tus upload: one hash per upload, a lock, and the expiry schedule.

Nothing about an upload lives in process memory between requests, so any API process
may continue it, also after a restart. The hash holds the protocol state (offset,
length, expiry), where the bytes go (bucket, key, multipart upload id, part ETags), the
whole-file SHA-256 state, and the tail: bytes received but not yet in an S3 part (less
than one part; S3 parts other than the last must be at least 5 MiB). A write changes the
hash only while it holds the upload's lock (checked in the same script), so two racing
PATCHes can never both advance one upload."""

import json
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import redis.asyncio as redis

from service.storage.redis import translate_errors

# KEYS: state, lock. ARGV: token, lock ms, then field/value pairs. 0 when the lock is not ours.
_SAVE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
"""
# KEYS: state, lock. ARGV: token, lock ms. false: no upload; {0, owner, expires}: locked by another
# request; {1, hash}: the lock is ours and this is the state (one round trip instead of three).
_LOCK_LOAD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {0, redis.call('HGET', KEYS[1], 'owner'), redis.call('HGET', KEYS[1], 'expires')}
end
return {1, redis.call('HGETALL', KEYS[1])}
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class TusUpload:
    """One upload's state as stored; ``etags`` are the parts already in S3, in order."""

    id: str
    owner: str
    length: int | None
    offset: int
    expires: float
    meta: dict[str, str]
    name: str
    uploaded_at: str
    content_type: str
    bucket: str
    key: str
    digest: str = ""  # the whole file's SHA-256 (hex) the client declared (Repr-Digest)
    upload_id: str = ""  # S3 multipart upload, started with the first full part
    etags: list[str] = field(default_factory=list)
    sha: bytes = b""  # Sha256State.state over bytes 0..offset
    tail: bytes = b""  # bytes offset-len(tail)..offset, not yet in a part
    result: str = ""  # the stored file's upload view (JSON) once complete

    def fields(self) -> dict[str, bytes | str]:
        values = asdict(self)
        values["length"] = "" if self.length is None else str(self.length)
        values["meta"] = json.dumps(self.meta)
        values["etags"] = json.dumps(self.etags)
        return {k: (v if isinstance(v, bytes) else str(v)) for k, v in values.items()}

    @classmethod
    def parse(cls, raw: dict[bytes, bytes]) -> "TusUpload":
        text = {k.decode(): v for k, v in raw.items()}
        s = {k: v.decode() for k, v in text.items() if k not in ("sha", "tail")}
        return cls(
            id=s["id"],
            owner=s["owner"],
            length=int(s["length"]) if s["length"] else None,
            offset=int(s["offset"]),
            expires=float(s["expires"]),
            meta=json.loads(s["meta"]),
            name=s["name"],
            uploaded_at=s["uploaded_at"],
            content_type=s["content_type"],
            bucket=s["bucket"],
            key=s["key"],
            digest=s.get("digest", ""),
            upload_id=s.get("upload_id", ""),
            etags=json.loads(s.get("etags", "[]")),
            sha=text.get("sha", b""),
            tail=text.get("tail", b""),
            result=s.get("result", ""),
        )

    @classmethod
    def partial(cls, owner: str, expires: float) -> "TusUpload":
        """Just who owns an upload and until when (what a refused lock reports)."""
        return cls("", owner, None, 0, expires, {}, "", "", "", "", "")


LIGHT_FIELDS = [f.name for f in fields(TusUpload) if f.name != "tail"]


class TusState:
    def __init__(self, client: redis.Redis, prefix: str, lock_seconds: float) -> None:
        self.client = client  # binary-safe (decode_responses=False): tails and hash states are bytes
        self.prefix = prefix
        self.lock_ms = int(lock_seconds * 1000)
        self.schedule = f"{prefix}tus:expiry"
        self._save = client.register_script(_SAVE)
        self._unlock = client.register_script(_UNLOCK)
        self._lock_load = client.register_script(_LOCK_LOAD)

    def _key(self, upload_id: str) -> str:
        return f"{self.prefix}tus:{upload_id}"

    def _lock(self, upload_id: str) -> str:
        return f"{self.prefix}tus:{upload_id}:lock"

    async def create(self, upload: TusUpload) -> None:
        async with translate_errors("create upload"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(upload.id), mapping=upload.fields())
                pipe.zadd(self.schedule, {upload.id: upload.expires})
                await pipe.execute()

    async def load(self, upload_id: str, tail: bool = True) -> TusUpload | None:
        """The upload's state; without ``tail`` (up to a part of bytes) for checks and HEAD."""
        async with translate_errors("read upload"):
            if tail:
                raw = await self.client.hgetall(self._key(upload_id))
            else:
                values = await self.client.hmget(self._key(upload_id), LIGHT_FIELDS)
                raw = {k.encode(): v for k, v in zip(LIGHT_FIELDS, values, strict=True) if v is not None}
        return TusUpload.parse(raw) if raw else None

    async def lock(self, upload_id: str) -> str | None:
        """A token if the lock was free (it expires by itself if its holder dies), else None."""
        token = secrets.token_hex(8)
        async with translate_errors("lock upload"):
            taken = await self.client.set(self._lock(upload_id), token, nx=True, px=self.lock_ms)
        return token if taken else None

    async def lock_load(self, upload_id: str) -> tuple[str | None, TusUpload | None]:
        """Lock and load in one step: (token, state) if the lock was free; (None, owner and expiry
        only) if another request holds it; (None, None) if there is no such upload."""
        token = secrets.token_hex(8)
        async with translate_errors("lock upload"):
            answer = await self._lock_load(
                keys=[self._key(upload_id), self._lock(upload_id)], args=[token, self.lock_ms]
            )
        if not answer:
            return None, None
        if answer[0] == 0:
            owner, expires = (v.decode() if v is not None else "" for v in answer[1:3])
            return None, TusUpload.partial(owner, float(expires or 0))
        flat = answer[1]
        return token, TusUpload.parse(dict(zip(flat[::2], flat[1::2], strict=True)))

    async def unlock(self, upload_id: str, token: str) -> None:
        async with translate_errors("unlock upload"):
            await self._unlock(keys=[self._lock(upload_id)], args=[token])

    async def save(self, upload_id: str, token: str, /, **changes: Any) -> bool:
        """Write ``changes`` (and extend the lock) if the lock is still ours; else False."""
        args: list[Any] = [token, self.lock_ms]
        for name, value in changes.items():
            if name == "etags":
                value = json.dumps(value)
            elif name == "length":
                value = "" if value is None else str(value)
            args += [name, value if isinstance(value, bytes) else str(value)]
        async with translate_errors("save upload"):
            return bool(await self._save(keys=[self._key(upload_id), self._lock(upload_id)], args=args))

    async def set_upload_id(self, upload_id: str, multipart_id: str) -> None:
        """Saved as soon as S3 gives it (no lock check: the id alone changes no progress)."""
        async with translate_errors("save upload"):
            await self.client.hset(self._key(upload_id), "upload_id", multipart_id)

    async def delete(self, upload_id: str) -> None:
        async with translate_errors("remove upload"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(upload_id), self._lock(upload_id))
                pipe.zrem(self.schedule, upload_id)
                await pipe.execute()

    async def due(self, now: float, limit: int = 500) -> list[str]:
        """Uploads whose expiry has passed (the cleanup job's work list)."""
        async with translate_errors("list expired uploads"):
            ids = await self.client.zrangebyscore(self.schedule, "-inf", now, start=0, num=limit)
        return [i.decode() for i in ids]
