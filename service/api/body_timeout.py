"""An idle timeout on reading request bodies (slowloris).

uvicorn bounds idle keep-alive connections but not a request whose body stops arriving: a
client announcing ``Content-Length: 100000`` and sending nothing held its request (and, mid-file,
an S3 multipart upload) open for as long as it liked. Wrapping ASGI ``receive`` bounds every
chunk read of every route the same way: the streamed uploads (``request.stream()``) and the
JSON bodies Litestar reads for a handler. A wait past the limit raises ``RequestTimeout`` (408)
inside the handler, whose cleanup aborts its upload as for any other failure. Once the body is
complete ``receive`` is passed through untouched: a streamed download waits on it for the
client's disconnect, for as long as the download takes."""

import asyncio
from collections.abc import Callable

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import RequestTimeout


def body_read_timeout(seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: each ``http.request`` message must arrive within ``seconds`` of asking."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            body_done = False

            async def bounded_receive() -> Message:
                nonlocal body_done
                if body_done:
                    return await receive()
                try:
                    async with asyncio.timeout(seconds):
                        message = await receive()
                except TimeoutError:
                    raise RequestTimeout(f"the request body stalled: no data for {seconds:g} s") from None
                if message["type"] != "http.request" or not message.get("more_body", False):
                    body_done = True
                return message

            await app(scope, bounded_receive, send)

        return middleware

    return factory
