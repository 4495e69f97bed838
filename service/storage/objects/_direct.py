"""Single-request writes (and reads) of small objects, signed by botocore and sent on a pooled aiohttp session.

Through aiobotocore a 4 KiB PutObject costs about 0.97 ms of CPU (the S3 endpoint rules are
evaluated again for every key, the user-agent string is rebuilt, a dozen hooks run); signed
with botocore's own SigV4 signer and sent directly it costs about 0.24 ms. Every upload makes
two such writes (the small file or nothing, and its manifest), so on the small-upload path
this is most of the API's CPU (bench/results.md). Everything else stays on the SDK.

The same path streams a resumable upload's part (``put_part_stream``): its length is known
before its bytes are, which the SDK cannot send without holding the whole part first."""

import asyncio
import random
import re
from collections.abc import AsyncIterable
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import NoCredentialsError

MAX_ATTEMPTS = 3  # as the SDK client's "standard" retry mode
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")


class S3Refused(Exception):
    """An S3 error answer: its ``code`` and HTTP ``status`` (mapped by ``translate_errors``)."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(f"{status} {code}")
        self.code, self.status = code, status


class DirectWrites:
    """PutObject of an in-memory body, with the SDK client's endpoint, credentials and config."""

    def __init__(self, client: Any, credentials: Any, timeouts: aiohttp.ClientTimeout) -> None:
        self.endpoint = client.meta.endpoint_url.rstrip("/")  # path-style addressing (the store's config)
        self.config = client.meta.config
        self.credentials = credentials
        self.region = client.meta.region_name
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.config.max_pool_connections), timeout=timeouts,
            auto_decompress=False, skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        await self.http.close()

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, tags: dict[str, str] | None, create: bool
    ) -> None:
        """PutObject; ``create`` adds ``If-None-Match: *`` (S3 answers 412 when the key exists)."""
        url = f"{self.endpoint}/{bucket}/{quote(key, safe='/~')}"
        headers = {"Content-Type": content_type}
        if create:
            headers["If-None-Match"] = "*"
        if tags:
            headers["x-amz-tagging"] = urlencode(tags)
        await self._retried("PUT", url, data, headers)

    async def get(self, bucket: str, key: str) -> bytes:
        """GetObject of a small object (a manifest), whole: reindex reads a million of them."""
        return await self._retried("GET", f"{self.endpoint}/{bucket}/{quote(key, safe='/~')}", b"", {})

    async def _retried(self, method: str, url: str, data: bytes, headers: dict[str, str]) -> bytes:
        """One request with the SDK's retries (jittered backoff); the body of a 2xx answer."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                status, body, _ = await self._send(url, data, headers, method=method)
            except (TimeoutError, aiohttp.ClientError):
                if attempt == MAX_ATTEMPTS:
                    raise
            else:
                if status < 300:
                    return body
                code = _CODE.search(body)
                error = S3Refused(code.group(1).decode() if code else str(status), status)
                if status not in RETRY_STATUS or attempt == MAX_ATTEMPTS:
                    raise error
            await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def put_part_stream(
        self, bucket: str, key: str, upload_id: str, number: int, size: int, chunks: AsyncIterable[bytes]
    ) -> str:
        """UploadPart whose body is sent as ``chunks`` yield it (exactly ``size`` bytes); returns the
        ETag. No retry: the bytes are gone once sent, so a failure is the caller's to report."""
        query = urlencode({"partNumber": number, "uploadId": upload_id})
        url = f"{self.endpoint}/{bucket}/{quote(key, safe='/~')}?{query}"
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        status, body, etag = await self._send(url, chunks, headers, signed_body=b"")
        if status >= 300:
            code = _CODE.search(body)
            raise S3Refused(code.group(1).decode() if code else str(status), status)
        return etag

    async def _send(
        self, url: str, data: Any, headers: dict[str, str], signed_body: bytes | None = None, method: str = "PUT"
    ) -> tuple[int, bytes, str]:
        """One signed request; ``signed_body`` stands in for a streamed body when signing (its hash is
        never computed: payload signing is off, see ObjectStore.open)."""
        request = AWSRequest(method, url, data=data if signed_body is None else signed_body, headers=headers)
        request.context["client_config"] = self.config  # honours payload_signing_enabled
        if self.credentials is None:
            raise NoCredentialsError()  # as the SDK client would, on use rather than at start-up
        frozen = await self.credentials.get_frozen_credentials()
        S3SigV4Auth(frozen, "s3", self.region).add_auth(request)
        sent = data if method == "PUT" else None
        async with self.http.request(method, url, data=sent, headers=dict(request.headers.items())) as response:
            return response.status, await response.read(), response.headers.get("ETag", "")
