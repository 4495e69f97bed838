"""A small TCP proxy for fault injection: put it between Depot and S3 (or Redis) and cut
connections mid-stream, drop a response after the request reached the server, or go down.

Rules look at the bytes flowing client → server, so they can target one kind of S3 request
by its request line (``PUT /bucket/key.meta.json``, ``POST ...?uploadId=``)."""

import re
import socket
import threading
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


@dataclass
class Rule:
    """``before``: close without forwarding; ``response``: forward, then drop the answer and close;
    ``hold``: forward only once ``release`` is set (a request stuck mid-job); ``truncate``: forward,
    then close once more than ``after_bytes`` of this request's answer have passed (bytes of earlier
    answers on a kept-alive connection do not count: cutting before the headers would be retried).
    ``after_bytes`` alone: close a connection once it has carried more than that many bytes upstream."""

    pattern: re.Pattern | None = None
    mode: str = "before"
    after_bytes: int | None = None
    times: int | None = None  # None: every match
    hits: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass(eq=False)
class _Conn:
    client: socket.socket
    server: socket.socket
    upstream_bytes: int = 0
    downstream_bytes: int = 0
    truncate_after: int | None = None
    drop_response: bool = False
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Proxy:
    def __init__(self, target_port: int, port: int) -> None:
        self.target = (LOOPBACK, target_port)
        self.port = port
        self.rules: list[Rule] = []
        self.cuts = 0
        self.upstream_total = 0  # bytes received from clients, over all connections
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    # control -----------------------------------------------------------------------
    def up(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut every open one (the server looks unreachable)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in its thread
            except OSError:
                pass
            listener.close()
        self.cut_all()

    def cut_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        for rule in self.rules:
            rule.release.set()
        self.rules.clear()

    def close(self) -> None:
        self.down()

    # plumbing ------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            conn = _Conn(client, server)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._upstream, args=(conn,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(conn,), daemon=True).start()

    def _cut(self, conn: _Conn) -> None:
        self.cuts += 1
        conn.close()

    def _upstream(self, conn: _Conn) -> None:
        try:
            while data := conn.client.recv(65536):
                conn.upstream_bytes += len(data)
                with self._lock:
                    self.upstream_total += len(data)
                for rule in self.rules:
                    if rule.spent():
                        continue
                    if rule.mode != "truncate" and rule.after_bytes is not None \
                            and conn.upstream_bytes > rule.after_bytes:
                        rule.hits += 1
                        return self._cut(conn)
                    if rule.pattern is not None and rule.pattern.search(data):
                        rule.hits += 1
                        if rule.mode == "before":
                            return self._cut(conn)
                        if rule.mode == "hold":
                            rule.release.wait()
                            continue
                        if rule.mode == "truncate":  # counted from this answer on: a reused connection
                            conn.truncate_after = conn.downstream_bytes + rule.after_bytes  # has carried others
                            continue
                        conn.drop_response = True
                conn.server.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(conn)

    def _downstream(self, conn: _Conn) -> None:
        try:
            while data := conn.server.recv(65536):
                conn.downstream_bytes += len(data)
                if conn.drop_response:
                    return self._cut(conn)
                if conn.truncate_after is not None and conn.downstream_bytes > conn.truncate_after:
                    return self._cut(conn)
                conn.client.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(conn)

    def _forget(self, conn: _Conn) -> None:
        conn.close()
        with self._lock:
            self._conns.discard(conn)
