"""Helpers of the many-replicas test: a round-robin client-side balancer, unique sample files,
and the ledger of what the test expects the store to hold."""

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass, field

import httpx

from tests.samples import tar_archive, wav, zip_archive


class RoundRobin(httpx.BaseTransport):
    """Sends each request to the next backend; a connect failure (a dead backend) is retried on
    the others, as a load balancer does. A request cut mid-way is not retried: its outcome is
    unknown, as it is behind a real balancer."""

    def __init__(self, urls: list[str]) -> None:
        self.backends = [httpx.URL(u) for u in urls]
        self.transports = [httpx.HTTPTransport() for _ in urls]
        self._turn = itertools.count()
        self.connect_retries = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        first = next(self._turn)
        for step in range(len(self.backends)):
            index = (first + step) % len(self.backends)
            target = self.backends[index]
            request.url = request.url.copy_with(host=target.host, port=target.port)
            try:
                return self.transports[index].handle_request(request)
            except httpx.ConnectError:
                self.connect_retries += 1
        raise httpx.ConnectError("no backend answered", request=request)

    def close(self) -> None:
        for transport in self.transports:
            transport.close()


def sample(kind: str, n: int) -> tuple[str, bytes, str]:
    """(filename, unique content, final status the worker must reach) of one kind."""
    made = {
        "json": lambda: json.dumps([{"id": n, "q": "a"}]).encode(),
        "jsonl": lambda: json.dumps({"messages": [{"role": "user", "content": f"hi {n}"}]}).encode() + b"\n",
        "csv": lambda: f"question,answer\nq{n},a\n".encode(),
        "yaml": lambda: f"name: n{n}\nversion: 2\n".encode(),
        "xml": lambda: f"<feed><item id='{n}'/></feed>".encode(),
        "txt": lambda: f"line {n} of words\n".encode(),
        "wav": lambda: wav(0.01, rate=8000 + n, channels=1),
        "zip": lambda: zip_archive({f"m{n}.txt": b"x" * 10}),
        "tgz": lambda: tar_archive({f"m{n}.txt": b"x" * 10}, "w:gz"),
        "bad.json": lambda: f'{{"a": {n}, "b": [1'.encode(),
    }[kind]()
    extension = kind.removeprefix("bad.")
    return f"f{n}.{extension}", made, "failed" if kind.startswith("bad.") else "done"


@dataclass
class Stored:
    path: str
    sha256: str
    size: int
    purpose: str
    category: str
    final: str  # the processing status it must reach


@dataclass
class Ledger:
    """What the store must hold: every file that got a 201 and was not deleted since."""

    stored: dict[str, Stored] = field(default_factory=dict)
    deletable: list[str] = field(default_factory=list)  # ingestion files the test may delete
    twins: list[tuple[str, bytes, str]] = field(default_factory=list)  # (purpose, content, path) kept for 409s
    deleted: set[str] = field(default_factory=set)
    unanswered: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content of cut uploads
    training_text: int = 0  # stored training text files (never deleted: each counts once)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, view: dict, content: bytes, final: str, deletable: bool) -> None:
        assert view["hash"] == hashlib.sha256(content).hexdigest() and view["size"] == len(content)
        with self.lock:
            assert view["path"] not in self.stored, "one path handed out twice"
            self.stored[view["path"]] = Stored(
                view["path"], view["hash"], view["size"], view["purpose"], view["category"], final
            )
            if deletable:
                self.deletable.append(view["path"])
            else:
                self.twins.append((view["purpose"], content, view["path"]))
            if view["purpose"] == "training" and view["category"] == "text":
                self.training_text += 1

    def take_deletable(self) -> str | None:
        with self.lock:
            return self.deletable.pop() if self.deletable else None

    def forget(self, path: str) -> None:
        with self.lock:
            self.stored.pop(path)
            self.deleted.add(path)
