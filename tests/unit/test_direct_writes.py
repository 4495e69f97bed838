"""DirectWrites against a local HTTP server scripted to answer what a real S3 rarely does on
demand (503s, then success; refusals with S3 error bodies): retries and error mapping."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.credentials import Credentials

from service.errors import Conflict, DependencyDown, DepotError, NotFound
from service.storage.objects._common import translate_errors
from service.storage.objects._direct import DirectWrites


class FrozenCredentials:
    async def get_frozen_credentials(self) -> Credentials:
        return Credentials("key", "secret").get_frozen_credentials()


def fake_client(url: str) -> SimpleNamespace:
    """What DirectWrites reads from an aiobotocore client: its endpoint, region and config."""
    config = Config(max_pool_connections=4, s3={"addressing_style": "path", "payload_signing_enabled": False})
    return SimpleNamespace(meta=SimpleNamespace(endpoint_url=url, region_name="us-east-1", config=config))


def error(status: int, code: str) -> web.Response:
    return web.Response(status=status, body=f"<Error><Code>{code}</Code></Error>".encode())


@asynccontextmanager
async def scripted(method: str, answers: list[web.Response], seen: list[dict[str, Any]]) -> AsyncIterator[DirectWrites]:
    """DirectWrites against a local server that records each request in ``seen`` and gives the
    ``answers`` in turn."""

    async def handle(request: web.Request) -> web.Response:
        seen.append({"path": request.path, "query": dict(request.query), "headers": dict(request.headers),
                     "body": await request.read()})
        return answers.pop(0)

    app = web.Application()
    app.router.add_route(method, "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    writes = DirectWrites(fake_client(f"http://127.0.0.1:{port}"), FrozenCredentials(), aiohttp.ClientTimeout(total=5))
    try:
        yield writes
    finally:
        await writes.close()
        await runner.cleanup()


async def put_against(answers: list[web.Response], seen: list[dict[str, Any]], **put: Any) -> None:
    async with scripted("PUT", answers, seen) as writes, translate_errors("write k"):
        await writes.put("bucket", "cat/a b.txt", b"data", "text/plain", {"purpose": "training"}, **put)


def test_a_conditional_write_is_signed_and_carries_its_tags() -> None:
    seen: list[dict[str, Any]] = []
    asyncio.run(put_against([web.Response(status=200)], seen, create=True))
    (request,) = seen
    assert request["path"] == "/bucket/cat/a b.txt" and request["body"] == b"data"
    headers = request["headers"]
    assert headers["If-None-Match"] == "*" and headers["x-amz-tagging"] == "purpose=training"
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=key/")
    assert "if-none-match" in headers["Authorization"] and "x-amz-tagging" in headers["Authorization"]


def test_a_replacing_write_sends_no_condition() -> None:
    seen: list[dict[str, Any]] = []
    asyncio.run(put_against([web.Response(status=200)], seen, create=False))
    assert "If-None-Match" not in seen[0]["headers"]


def test_server_errors_are_retried_then_succeed() -> None:
    seen: list[dict[str, Any]] = []
    asyncio.run(put_against([error(503, "SlowDown"), error(500, "InternalError"), web.Response(status=200)],
                            seen, create=True))
    assert len(seen) == 3


def test_server_errors_give_up_after_three_tries_as_dependency_down() -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(DependencyDown, match="SlowDown"):
        asyncio.run(put_against([error(503, "SlowDown") for _ in range(3)], seen, create=True))
    assert len(seen) == 3


@pytest.mark.parametrize(("status", "code", "raised"), [
    (412, "PreconditionFailed", Conflict),
    (404, "NoSuchBucket", DependencyDown),
    (403, "AccessDenied", DepotError),
])
def test_refusals_are_not_retried_and_map_to_depot_errors(status: int, code: str, raised: type) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(raised) as caught:
        asyncio.run(put_against([error(status, code)], seen, create=True))
    assert len(seen) == 1
    assert type(caught.value) is raised


async def stream_against(answer: web.Response, seen: list[dict[str, Any]], pieces: list[bytes]) -> str:
    """A streamed UploadPart against the scripted server; returns the ETag it got."""

    async def chunks():
        for piece in pieces:
            await asyncio.sleep(0)  # the bytes arrive one by one, as from a client
            yield piece

    async with scripted("PUT", [answer], seen) as writes, translate_errors("upload part"):
        return await writes.put_part_stream("bucket", "cat/a.bin", "up id", 7, sum(map(len, pieces)), chunks())


def test_a_streamed_part_sends_its_pieces_with_a_known_length() -> None:
    seen: list[dict[str, Any]] = []
    pieces = [b"a" * 1000, b"b" * 70_000, b"c"]
    etag = asyncio.run(stream_against(web.Response(status=200, headers={"ETag": '"abc"'}), seen, pieces))
    assert etag == '"abc"'
    (request,) = seen
    assert request["path"] == "/bucket/cat/a.bin" and request["query"] == {"partNumber": "7", "uploadId": "up id"}
    assert request["body"] == b"".join(pieces)
    headers = request["headers"]
    assert headers["Content-Length"] == "71001" and "Transfer-Encoding" not in headers  # no chunked encoding
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"  # the body is never hashed to sign it
    assert "content-length" in headers["Authorization"]


def test_a_streamed_part_refused_is_not_retried() -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(NotFound):
        asyncio.run(stream_against(error(404, "NoSuchUpload"), seen, [b"x" * 10]))
    assert len(seen) == 1


async def get_against(answers: list[web.Response], seen: list[dict[str, Any]]) -> bytes:
    """A whole-object GET (how manifests are read) against the scripted server; returns its body."""
    async with scripted("GET", answers, seen) as reads, translate_errors("read k"):
        return await reads.get("bucket", "cat/a b.txt.meta.json")


def test_a_read_is_signed_and_returns_the_body_after_retrying_server_errors() -> None:
    seen: list[dict[str, Any]] = []
    body = asyncio.run(get_against([error(503, "SlowDown"), web.Response(status=200, body=b'{"a": 1}')], seen))
    assert body == b'{"a": 1}'
    assert len(seen) == 2
    request = seen[-1]
    assert request["path"] == "/bucket/cat/a b.txt.meta.json" and request["body"] == b""
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=key/")


@pytest.mark.parametrize(("answer", "raised"), [
    (error(404, "NoSuchKey"), NotFound),
    (web.Response(status=404), NotFound),  # no error body: the status alone says it is missing
    (error(403, "AccessDenied"), DepotError),
])
def test_a_refused_read_is_not_retried_and_maps_to_a_depot_error(answer: web.Response, raised: type) -> None:
    seen: list[dict[str, Any]] = []
    with pytest.raises(raised) as caught:
        asyncio.run(get_against([answer], seen))
    assert len(seen) == 1
    assert type(caught.value) is raised
