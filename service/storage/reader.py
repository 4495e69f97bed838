"""A read-only face of the object store: what parsers and the ZIP reader get instead of it.

They read stored bytes (ranged or streamed) and nothing else, so a store can hand them
this without handing out its object store (no writes, deletes or tags through it)."""

from service.storage.objects import ObjectStore, ObjectStream


class ObjectReader:
    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    async def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        return await self._objects.read_range(bucket, key, start, end)

    async def open_read(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> ObjectStream:
        return await self._objects.open_read(bucket, key, start, end)
