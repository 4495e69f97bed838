"""The Redis side of a direct (presigned) upload: one hash per upload and the expiry schedule.

States move one way: ``uploading`` → ``verifying`` → ``stored`` or ``failed``, and
``uploading``/``verifying`` → ``aborted`` (DELETE). Each move is one script that checks the
state it leaves, so two racing completions, or a DELETE racing the worker, cannot both win."""

import json
from dataclasses import asdict, dataclass, field

import redis.asyncio as redis

from service.storage.redis import translate_errors

UPLOADING, VERIFYING, STORED, FAILED, ABORTED = "uploading", "verifying", "stored", "failed", "aborted"

# KEYS: state. ARGV: allowed states (comma-separated), then field/value pairs. 1 if moved.
_MOVE = """
local now = redis.call('HGET', KEYS[1], 'state')
if not now then return 0 end
local allowed = false
for state in string.gmatch(ARGV[1], '[^,]+') do if state == now then allowed = true end end
if not allowed then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


@dataclass
class DirectUpload:
    """One upload as stored: where its parts go and what the client declared."""

    id: str
    owner: str
    state: str
    meta: dict[str, str]  # filename (as checked), purpose, category, description, metadata
    name: str  # the saved name; the object's key is final from the start (see DirectStore)
    uploaded_at: str
    content_type: str
    size: int
    sha256: str
    part_size: int
    parts: int
    bucket: str
    key: str
    upload_id: str
    expires: float
    error: str = ""
    result: dict = field(default_factory=dict)  # the stored file's upload view

    def fields(self) -> dict[str, str]:
        values = asdict(self)
        values["meta"], values["result"] = json.dumps(self.meta), json.dumps(self.result)
        return {k: str(v) for k, v in values.items()}

    @classmethod
    def parse(cls, raw: dict[str, str]) -> "DirectUpload":
        return cls(
            **{
                k: raw[k]
                for k in (
                    "id",
                    "owner",
                    "state",
                    "name",
                    "uploaded_at",
                    "content_type",
                    "sha256",
                    "bucket",
                    "key",
                    "upload_id",
                    "error",
                )
            },
            meta=json.loads(raw["meta"]),
            result=json.loads(raw["result"]),
            size=int(raw["size"]),
            part_size=int(raw["part_size"]),
            parts=int(raw["parts"]),
            expires=float(raw["expires"]),
        )


class DirectState:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client  # decode_responses=True: every field is text
        self.prefix = prefix
        self.schedule = f"{prefix}direct:expiry"
        self._move = client.register_script(_MOVE)

    def _key(self, upload_id: str) -> str:
        return f"{self.prefix}direct:{upload_id}"

    async def create(self, upload: DirectUpload) -> None:
        async with translate_errors("create direct upload"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(upload.id), mapping=upload.fields())
                pipe.zadd(self.schedule, {upload.id: upload.expires})
                await pipe.execute()

    async def load(self, upload_id: str) -> DirectUpload | None:
        async with translate_errors("read direct upload"):
            raw = await self.client.hgetall(self._key(upload_id))
        return DirectUpload.parse(raw) if raw else None

    async def move(self, upload: DirectUpload, allowed: tuple[str, ...], state: str, **changes: object) -> bool:
        """Set ``state`` (and ``changes``) if the upload is in one of ``allowed``; else False."""
        values = {"state": state, **changes}
        if "result" in values:
            values["result"] = json.dumps(values["result"])
        args = [",".join(allowed)] + [str(x) for pair in values.items() for x in pair]
        async with translate_errors("save direct upload"):
            moved = bool(await self._move(keys=[self._key(upload.id)], args=args))
            if moved and "expires" in values:
                await self.client.zadd(self.schedule, {upload.id: float(values["expires"])})
        if moved:
            for name, value in {"state": state, **changes}.items():
                setattr(upload, name, value)
        return moved

    async def delete(self, upload_id: str) -> None:
        async with translate_errors("remove direct upload"):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(upload_id))
                pipe.zrem(self.schedule, upload_id)
                await pipe.execute()

    async def due(self, now: float, limit: int = 500) -> list[str]:
        """Uploads whose expiry has passed (the sweeper's work list)."""
        async with translate_errors("list expired direct uploads"):
            return list(await self.client.zrangebyscore(self.schedule, "-inf", now, start=0, num=limit))
