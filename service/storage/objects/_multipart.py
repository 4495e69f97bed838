"""Multipart uploads driven part by part from outside one request (resumable uploads).

``ObjectWriter`` owns a multipart upload for the life of one request; a tus upload's
parts arrive over many requests and processes, so its caller keeps the upload id and the
part ETags (in Redis) and calls these one at a time. A part can also be streamed: sent
while its bytes arrive, when its size is known before them (``put_part_stream``)."""

from collections.abc import AsyncIterable
from typing import Any

from service.errors import Conflict, NotFound
from service.storage.objects._common import translate_errors


class MultipartUploads:
    def __init__(self, client: Any, direct: Any) -> None:
        self.client = client
        self.direct = direct  # DirectWrites: the streamed parts

    async def start(self, bucket: str, key: str, content_type: str) -> str:
        async with translate_errors(f"start upload of {key}"):
            response = await self.client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
        return response["UploadId"]

    async def put_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload (or re-upload: the last one wins) part ``number``; returns its ETag."""
        async with translate_errors(f"upload part {number} of {key}"):
            response = await self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return response["ETag"]

    async def put_part_stream(
        self, bucket: str, key: str, upload_id: str, number: int, size: int, chunks: AsyncIterable[bytes]
    ) -> str:
        """Upload part ``number`` from ``chunks`` (exactly ``size`` bytes) as they come; returns its ETag."""
        async with translate_errors(f"upload part {number} of {key}"):
            return await self.direct.put_part_stream(bucket, key, upload_id, number, size, chunks)

    async def complete(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        """Make the object from the listed parts (others are dropped); never overwrites (409)."""
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]
        async with translate_errors(f"complete upload of {key}"):
            await self.client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )

    async def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; one already gone is fine."""
        try:
            async with translate_errors(f"abort upload of {key}"):
                await self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except (NotFound, Conflict):
            pass
