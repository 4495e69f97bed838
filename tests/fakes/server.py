"""What the fake upstreams share: a threaded HTTP server on loopback and injectable faults."""

import contextlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class FakeHandler(BaseHTTPRequestHandler):
    """Quiet, keep-alive, and deaf to clients that hang up mid-body (a killed worker)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_: object) -> None:
        pass

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.route()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def route(self) -> None:
        raise NotImplementedError


@dataclass
class Fault:
    pattern: str
    status: int
    times: int


class FakeServer:
    """Subclasses set ``handler`` (a request handler class whose ``fake`` attribute is the server)."""

    handler: type[FakeHandler]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.server: ThreadingHTTPServer | None = None

    def fail(self, pattern: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` requests whose path contains ``pattern`` answer ``status``."""
        with self.lock:
            self.faults.append(Fault(pattern, status, times))

    def take_fault(self, path: str) -> int | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.pattern in path:
                    fault.times -= 1
                    return fault.status
        return None

    def start(self, port: int = 0) -> Self:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), type("Handler", (self.handler,), {"fake": self}))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
