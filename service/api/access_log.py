"""One access-log line per HTTP request: method, path, status and duration.

Litestar's logging middleware writes two lines (request, then response) without a duration,
and building them (a Request object, parsed query, two structlog events) was 14% of the
API's CPU per small upload (bench/results.md). This writes one line from the ASGI scope."""

import time

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("depot.access")


def access_log(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500  # 500 unless a response started

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            query = {"query": scope["query_string"].decode()} if scope["query_string"] else {}
            log.info("request", method=scope["method"], path=scope["path"], status_code=status,
                     duration_ms=round((time.perf_counter() - start) * 1e3, 1), **query)

    return middleware
