"""ObjectStore: one pooled aioboto3 client and the S3 operations Depot uses."""

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import ClientError

from service.errors import CorruptManifest, DependencyDown, NotFound
from service.settings import Settings
from service.storage.objects._common import COPY_LIMIT, ObjectInfo, ObjectStream, translate_errors
from service.storage.objects._direct import DirectWrites
from service.storage.objects._multipart import MultipartUploads
from service.storage.objects._writer import ObjectWriter


class ObjectStore:
    """Thin async facade over one pooled S3 client."""

    def __init__(self, client: Any, settings: Settings, direct: DirectWrites) -> None:
        self.client = client
        self.settings = settings
        self.direct = direct  # small-object writes without the SDK's per-call cost

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator["ObjectStore"]:
        """One client for the life of the process (pooled connections)."""
        config = Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # No SigV4 hash of each body: over plain HTTP botocore would SHA-256 every part on
            # the event loop, a second full pass beside our own content hash (see bench/results.md).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
        )
        secret = settings.s3_secret_access_key
        session = aioboto3.Session(
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.s3_region,
        )
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(
                session.client("s3", endpoint_url=settings.s3_endpoint_url or None, config=config)
            )
            credentials = await session.get_credentials()  # the client's own chain (keys, env, IRSA...)
            direct = DirectWrites(client, credentials, aiohttp.ClientTimeout(sock_connect=5, sock_read=60))
            stack.push_async_callback(direct.close)
            yield cls(client, settings, direct)

    def multipart(self) -> MultipartUploads:
        """Multipart uploads driven part by part across requests (resumable uploads)."""
        return MultipartUploads(self.client, self.direct)

    async def ensure_buckets(self, names: list[str]) -> None:
        """Create missing buckets (start-up); existing ones are left as they are."""
        for name in names:
            async with translate_errors(f"create bucket {name}"):
                try:
                    await self.client.head_bucket(Bucket=name)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                        raise
                    try:
                        await self.client.create_bucket(Bucket=name)
                    except ClientError as again:
                        if again.response.get("Error", {}).get("Code") not in (
                            "BucketAlreadyOwnedByYou", "BucketAlreadyExists"
                        ):
                            raise

    async def ping(self, bucket: str) -> None:
        async with translate_errors("check storage"):
            await self.client.head_bucket(Bucket=bucket)

    def writer(
        self, content_type: str, choose_target: Callable[[], tuple[str, str]], overwrite: bool = False
    ) -> "ObjectWriter":
        """A streaming writer; ``choose_target`` names (bucket, key) when bytes must land.

        ``overwrite`` lets an idempotent job rewrite a key an earlier try left behind."""
        return ObjectWriter(self, content_type, choose_target, overwrite)

    async def put_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str, tags: dict[str, str] | None = None
    ) -> None:
        """Create a small object (with its tags, in the same request); never overwrites (409)."""
        async with translate_errors(f"write {key}"):
            await self.direct.put(bucket, key, data, content_type, tags, create=True)

    async def replace_bytes(
        self, bucket: str, key: str, data: bytes, content_type: str, tags: dict[str, str] | None = None
    ) -> None:
        """Write a small object, replacing it (for records that evolve, such as manifests)."""
        async with translate_errors(f"write {key}"):
            await self.direct.put(bucket, key, data, content_type, tags, create=False)

    async def get_json(self, bucket: str, key: str) -> dict[str, Any]:
        async with translate_errors(f"read {key}"):
            raw = await self.direct.get(bucket, key)  # manifests: small, and reindex reads millions
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CorruptManifest(f"read {key}: manifest is not JSON") from exc

    async def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        async with translate_errors(f"tag {key}"):
            await self.client.put_object_tagging(
                Bucket=bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )

    async def get_tags(self, bucket: str, key: str) -> dict[str, str]:
        async with translate_errors(f"read tags of {key}"):
            response = await self.client.get_object_tagging(Bucket=bucket, Key=key)
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    async def open_read(self, bucket: str, key: str, start: int = 0, end: int | None = None) -> ObjectStream:
        """Open a read of bytes ``start..end`` (inclusive); the body streams in chunks."""
        # A whole-object read sends no Range: S3 answers 416 to "bytes=0-" on an empty object.
        ranged = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end}"}
        async with translate_errors(f"read {key}"):
            response = await self.client.get_object(Bucket=bucket, Key=key, **ranged)
        length = int(response["ContentLength"])
        total = int(response.get("ContentRange", f"/{length}").rsplit("/", 1)[-1])
        body = response["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            # The chunks aiohttp received, as they are: its ``read(n)`` (what the SDK's iter_chunks
            # uses) joins buffered chunks into a new bytes object, a copy of every byte that was
            # ~60% of the API's CPU per GiB downloaded (bench/results.md).
            received = 0
            try:
                async with translate_errors(f"read {key}"):
                    async for chunk, _ in body.__wrapped__.content.iter_chunks():
                        received += len(chunk)
                        yield chunk
                    if received != length:
                        raise DependencyDown(f"read {key}: storage sent {received} of {length} bytes")
            finally:
                body.close()

        return ObjectStream(size=total, start=start, end=start + length - 1, chunks=chunks())

    async def delete(self, bucket: str, keys: list[str]) -> None:
        """Delete keys; deleting what is already gone is not an error."""
        async with translate_errors("delete"):
            response = await self.client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
            )
        if response.get("Errors"):
            raise DependencyDown(f"delete: storage refused {response['Errors'][0].get('Key')}")

    async def copy(self, source: ObjectInfo, bucket: str, key: str, overwrite: bool = False) -> None:
        """Server-side copy (multipart for very large objects); bytes never pass through us."""
        async with translate_errors(f"copy to {key}"):
            if source.size <= COPY_LIMIT:
                condition = {} if overwrite else {"IfNoneMatch": "*"}
                await self.client.copy_object(
                    Bucket=bucket, Key=key, CopySource={"Bucket": source.bucket, "Key": source.key},
                    **condition,
                )
            else:
                await self.client.copy(
                    {"Bucket": source.bucket, "Key": source.key}, bucket, key
                )

    async def iter_keys(self, bucket: str, suffix: str = "") -> AsyncIterator[str]:
        """Every key of a bucket ending with ``suffix``, paged."""
        async for info in self.iter_objects(bucket, ""):
            if info.key.endswith(suffix):
                yield info.key

    async def head(self, bucket: str, key: str) -> int | None:
        """The size of an object, or None when it does not exist."""
        try:
            async with translate_errors(f"check {key}"):
                response = await self.client.head_object(Bucket=bucket, Key=key)
        except NotFound:
            return None
        return int(response["ContentLength"])

    async def read_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of an object, for small reads such as ZIP directories."""
        stream = await self.open_read(bucket, key, start, end)
        return b"".join([chunk async for chunk in stream.chunks])

    async def iter_objects(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` with its size, paged."""
        paginator = self.client.get_paginator("list_objects_v2")
        async with translate_errors(f"list {bucket}/{prefix}"):
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(bucket=bucket, key=item["Key"], size=int(item["Size"]))

    async def delete_prefix(self, bucket: str, prefix: str, keep: set[str] | None = None) -> int:
        """Delete every object under ``prefix`` except ``keep``; returns how many went."""
        doomed = [o.key async for o in self.iter_objects(bucket, prefix) if o.key not in (keep or set())]
        for start in range(0, len(doomed), 1000):
            await self.delete(bucket, doomed[start:start + 1000])
        return len(doomed)

    async def abort_uploads(self, bucket: str, prefix: str) -> int:
        """Abort multipart uploads under ``prefix`` that a killed process left open."""
        async with translate_errors(f"list uploads of {bucket}/{prefix}"):
            response = await self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
            uploads = response.get("Uploads", [])
            for upload in uploads:
                await self.client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return len(uploads)

    async def abort_stale_uploads(self, bucket: str, before: datetime) -> list[str]:
        """Abort multipart uploads begun before ``before`` (a crashed writer's; SeaweedFS has no
        lifecycle rule for them); returns their keys."""
        aborted = []
        paginator = self.client.get_paginator("list_multipart_uploads")
        async with translate_errors(f"list uploads of {bucket}"):
            async for page in paginator.paginate(Bucket=bucket):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < before:
                        await self.client.abort_multipart_upload(
                            Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                        aborted.append(upload["Key"])
        return aborted

    async def iter_older(self, bucket: str, prefix: str, before: datetime) -> AsyncIterator[str]:
        """Keys under ``prefix`` last written before ``before``, paged."""
        paginator = self.client.get_paginator("list_objects_v2")
        async with translate_errors(f"list {bucket}/{prefix}"):
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["LastModified"] < before:
                        yield item["Key"]

    async def open_multipart_uploads(self, bucket: str) -> list[str]:
        """Keys with multipart uploads still open (tests and `depot verify`)."""
        async with translate_errors(f"list uploads of {bucket}"):
            response = await self.client.list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in response.get("Uploads", [])]
